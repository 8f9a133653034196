"""napari widgets: the only part of the package that imports Qt, napari or magicgui.

The widgets are contributed through ``napari.yaml``:

- :class:`~.psf_widget.PSFWidget` ("PSF")
- :class:`~.training_widget.TrainingWidget` ("Train")
- :class:`~.prediction_widget.PredictionWidget` ("Denoise & Deconvolve")

Trained and loaded models are shared between widgets through
:data:`~._models.model_registry`.
"""
