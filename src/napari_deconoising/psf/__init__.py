"""Point spread functions: models, loading, validation, preparation, beads and recipes.

The modules: :mod:`~.optics` (settings and widths from the objective), :mod:`~.models`
(Gaussian and widefield PSFs), :mod:`~.prepare` (validation, centring, cropping, normalisation,
resampling), :mod:`~.beads` (background and bead location of measured PSFs), :mod:`~.load`
(PSFs from files and bead stacks), :mod:`~.measure` (widths), :mod:`~.recipe` (one recipe
that the command line and the widget make every PSF from) and :mod:`~.automatic` (the recipes
of the PSF assumed when the user gives none; the choice, which may read pixels, is
:mod:`napari_deconoising.data.automatic_psf`).

Public names of its modules are loaded from them on first use (``from napari_deconoising.psf
import ...``), so that importing one module of this package does not import all of them.
"""

from napari_deconoising._exports import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    "optics prepare beads recipe models load measure automatic napari_deconoising.config.psf",
)
