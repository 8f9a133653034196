"""Exporting models for other tools: ONNX and bioimage.io packages."""
