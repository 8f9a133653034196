"""The network and its file: U-Net, PSF convolution, devices, the file format (:mod:`.bundle`),
the checks of untrusted files (:mod:`.archive_checks`, :mod:`.checks`, :mod:`.refusals`) and the
model file inside a bioimage.io package (:mod:`.package_reader`)."""
