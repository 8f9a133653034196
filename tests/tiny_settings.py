"""Settings that make widget training and compression runs take a second in the tests."""

#: Train widget values for a tiny network trained for a few steps on the CPU.
TINY_TRAINING = {
    "steps": 4,
    "patch_size": 32,
    "batch_size": 2,
    "depth": 2,
    "start_filters": 8,
    "validation_interval": 2,
    "device": "cpu",
}

#: Compression settings for a short distillation and a quick timing.
QUICK_COMPRESSION = {
    "steps": 2,
    "minutes": None,
    "patch_size": 32,
    "batch_size": 2,
    "timing_size": 64,
    "timing_repeats": 1,
    "device": "cpu",
}
