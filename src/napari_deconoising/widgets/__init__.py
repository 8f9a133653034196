"""napari widgets: the only part of the package that imports Qt, napari or magicgui.

The four widgets are contributed through ``napari.yaml``:

- :class:`~.psf_widget.PSFWidget` ("PSF")
- :class:`~.training_widget.TrainingWidget` ("Train")
- :class:`~.prediction_widget.PredictionWidget` ("Denoise & Deconvolve")
- :class:`~.compression_widget.CompressionWidget` ("Compress")

with the "Synthetic cell walls" sample (:mod:`.sample`). Each widget holds its form and what it
does with a result; :class:`~._jobs.JobRunner` runs its work in a thread worker, with the
run/cancel button, progress bar and status line. Spin box ranges and choices come from the
engine's declared settings (:mod:`._settings`). Trained, loaded and compressed models are
shared between widgets through :data:`~._models.model_registry`. Image layers are read with
their axes and pixel sizes, which the user may correct in an "axes" box (:mod:`._axes`).
Widgets that write files check them first (:mod:`._outputs`): never over an input, and over an
existing file only after the user said Yes.
"""
