"""The network and its file: U-Net, PSF convolution, devices, the file format and its checks."""
