"""``python -m napari_deconoising.cli``: the ``deconoising`` command."""

import sys

from napari_deconoising.cli import main

sys.exit(main())
