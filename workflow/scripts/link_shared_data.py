"""Place the real files of a shared data folder under their official names (manual placement).

    python workflow/scripts/link_shared_data.py [--shared DIR] [--data-dir data] [--copy]

Links each file (after checking its published checksum) to
``<data-dir>/raw/<dataset>/<official name>``, where the workflow's download rules
look first; nothing is downloaded. Run from the repository root.
"""

import argparse
import os
import sys
from pathlib import Path

from subsetgrad.bench.data import DataError
from subsetgrad.bench.data.shared import link_shared_data

REPO = Path(__file__).resolve().parents[2]

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument(
    "--shared",
    default=os.environ.get("SUBSETGRAD_SHARED_DATA", str(REPO.parent / "shared" / "data")),
    help="shared data folder (default: $SUBSETGRAD_SHARED_DATA or ../shared/data)",
)
parser.add_argument("--data-dir", default="data", help="the config's data_dir (default: data)")
parser.add_argument("--copy", action="store_true", help="copy instead of symlinking")
args = parser.parse_args()
try:
    placed = link_shared_data(args.shared, args.data_dir, copy=args.copy)
except (FileNotFoundError, DataError) as err:
    sys.exit(f"error: {err}")
for path in placed:
    print(path)
print(f"{len(placed)} file(s) in place under {args.data_dir}/raw/", file=sys.stderr)
