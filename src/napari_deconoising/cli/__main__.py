"""``python -m napari_deconoising.cli``: the ``deconoising`` command."""

import sys

from . import main

sys.exit(main())
