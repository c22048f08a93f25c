"""The benchmark: data, experiments, config, training and results of the workflow.

It needs the ``bench`` extra (``pip install subsetgrad[bench]``); the estimator library
(:mod:`subsetgrad`) needs torch alone and never imports this package.
"""

from importlib.util import find_spec

_MISSING = [
    name
    for name in ("numpy", "pandas", "scipy", "sklearn", "matplotlib", "seaborn", "yaml", "jsonschema", "tqdm")
    if find_spec(name) is None
]
if _MISSING:
    raise ImportError(
        f"subsetgrad.bench needs the benchmark's dependencies; missing: {', '.join(_MISSING)}. "
        "Install them with `pip install 'subsetgrad[bench]'` (the library itself, `import subsetgrad`, "
        "needs only torch)."
    )
