"""The paper's kNN embedding nets, as the authors define them (ermongroup/subsets,
subsets/knn/models/easy_net.py and subsets/knn/models/preact_resnet.py, the same nets as
NeuralSort's pytorch/models/): the trainable-parameter counts are derived by hand, layer by
layer, from the authors' layer definitions and compared with ours."""

import pytest
import torch
import torch.nn.functional as F

from subsetgrad.bench.experiments.knn import build_embedding_net


def conv(c_in, c_out, kernel, bias):
    """Weights of a Conv2d (c_out x c_in x kernel x kernel) plus its bias (c_out) if any."""
    return c_out * c_in * kernel * kernel + (c_out if bias else 0)


def batchnorm(channels):
    """BatchNorm2d: a scale and a shift per channel (running statistics are buffers)."""
    return 2 * channels


def trainable(net):
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def authors_net(name, shape, **options):
    channels = shape[0]
    return build_embedding_net(name, shape, torch.zeros(channels), torch.ones(channels), **options)


# --- MNIST ConvNet (easy_net.py: ConvNet) ----------------------------------------------

# conv1 = Conv2d(1, 20, 5):   20*1*5*5 + 20   =     520
# conv2 = Conv2d(20, 50, 5):  50*20*5*5 + 50  =  25,050
# 28x28 -> conv 24 -> pool 12 -> conv 8 -> pool 4: 50*4*4 = 800 inputs to the linear layer
# linear = Linear(800, 500):  800*500 + 500   = 400,500
# total                                       = 426,070
MNIST_CONVNET = 426_070


def test_mnist_convnet_parameter_count_matches_the_authors():
    assert conv(1, 20, 5, True) == 520
    assert conv(20, 50, 5, True) == 25_050
    assert 800 * 500 + 500 == 400_500
    assert 520 + 25_050 + 400_500 == MNIST_CONVNET
    for relu in (True, False):  # the output ReLU has no parameters
        net = authors_net("mnist_convnet", (1, 28, 28), mnist_convnet_output_relu=relu)
        assert trainable(net) == MNIST_CONVNET


def test_mnist_convnet_output_relu_as_the_authors():
    """The authors: out = F.relu(self.linear(out)); without the option the output is linear."""
    torch.manual_seed(0)
    x = torch.rand(16, 1, 28, 28)
    with_relu = authors_net("mnist_convnet", (1, 28, 28), mnist_convnet_output_relu=True)
    linear = authors_net("mnist_convnet", (1, 28, 28), mnist_convnet_output_relu=False)
    linear.load_state_dict(with_relu.state_dict())
    out, raw = with_relu(x), linear(x)
    assert out.shape == (16, 500)
    assert (raw < 0).any()  # so the comparison below can fail
    assert torch.equal(out, raw.clamp_min(0))


# --- PreActResNet18 (preact_resnet.py: PreActResNet(PreActBlock, [2, 2, 2, 2])) ---------


def preact_block(c_in, planes, stride):
    """bn1(c_in), conv1 3x3 c_in->planes (no bias), bn2(planes), conv2 3x3 planes->planes
    (no bias), and a 1x1 projection (no bias) when the stride or the width changes."""
    params = (
        batchnorm(c_in) + conv(c_in, planes, 3, False) + batchnorm(planes) + conv(planes, planes, 3, False)
    )
    if stride != 1 or c_in != planes:
        params += conv(c_in, planes, 1, False)
    return params


# per stage: two blocks; the first changes width/stride, the second keeps them
# layer1  64->64  s1:  (128 + 36,864 + 128 + 36,864) x 2                               =   147,968
# layer2  64->128 s2:  128 + 73,728 + 256 + 147,456 + 8,192 (projection) = 229,760
#                      + 256 + 147,456 + 256 + 147,456                    = 295,424     =   525,184
# layer3 128->256 s2:  256 + 294,912 + 512 + 589,824 + 32,768             = 918,272
#                      + 512 + 589,824 + 512 + 589,824                    = 1,180,672   = 2,098,944
# layer4 256->512 s2:  512 + 1,179,648 + 1,024 + 2,359,296 + 131,072      = 3,671,552
#                      + 1,024 + 2,359,296 + 1,024 + 2,359,296            = 4,720,640   = 8,392,192
# blocks                                                                                = 11,164,288
# stem conv1 = Conv2d(C, 64, 3, bias=False): 64*C*9 = 576 (C = 1) or 1,728 (C = 3)
# no classifier (the authors comment out self.linear), no BatchNorm after layer4
BLOCKS = 11_164_288
PREACT_RESNET18 = {1: BLOCKS + 576, 3: BLOCKS + 1_728}  # 11,164,864 and 11,166,016


def test_preact_resnet18_block_arithmetic():
    stages = [
        preact_block(64, 64, 1) + preact_block(64, 64, 1),
        preact_block(64, 128, 2) + preact_block(128, 128, 1),
        preact_block(128, 256, 2) + preact_block(256, 256, 1),
        preact_block(256, 512, 2) + preact_block(512, 512, 1),
    ]
    assert stages == [147_968, 525_184, 2_098_944, 8_392_192]
    assert sum(stages) == BLOCKS
    assert conv(1, 64, 3, False) == 576 and conv(3, 64, 3, False) == 1_728


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)], ids=["fashion_mnist", "cifar10"])
def test_preact_resnet18_parameter_count_matches_the_authors(shape):
    net = authors_net("preact_resnet18", shape, preact_resnet18_final_bn_relu=False)
    assert trainable(net) == PREACT_RESNET18[shape[0]]
    # the other variant adds exactly one BatchNorm2d(512) before pooling
    other = authors_net("preact_resnet18", shape, preact_resnet18_final_bn_relu=True)
    assert trainable(other) == PREACT_RESNET18[shape[0]] + batchnorm(512)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)], ids=["fashion_mnist", "cifar10"])
def test_preact_resnet18_pools_the_last_block_directly(shape):
    """The authors: layer4 -> F.avg_pool2d(out, 4) -> flatten; layer4's maps are 4x4 for
    28x28 and 32x32 inputs, so that is the global mean of the last block's output."""
    torch.manual_seed(0)
    net = authors_net("preact_resnet18", shape, preact_resnet18_final_bn_relu=False).eval()
    resnet = net[1]
    x = torch.rand(2, *shape)
    with torch.no_grad():
        last = resnet.blocks(resnet.stem(x))
        assert last.shape == (2, 512, 4, 4)
        expected = F.avg_pool2d(last, 4).flatten(1)
        assert (expected < 0).any()  # no ReLU before pooling: negative features survive
        assert torch.allclose(net(x), expected, atol=1e-6)


def test_none_normalization_leaves_pixels_unchanged():
    """mean 0, std 1 (the authors' raw MNIST pixels) makes the standardising layer the identity."""
    net = authors_net("mnist_convnet", (1, 28, 28))
    x = torch.rand(3, 1, 28, 28)
    assert torch.equal(net[0](x), x)
