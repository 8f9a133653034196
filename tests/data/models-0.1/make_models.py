"""How the model files in this folder were made: run with napari-deconoising 0.1 (commit 6f6d939,
before the package was split into sub-packages) on PYTHONPATH. It trains three tiny models for a few
steps (2D, two channels, 3D), saves them, and stores a small input with the outputs 0.1 predicted
for it, so that tests can check that later versions load these files and predict the same."""

import numpy as np

import napari_deconoising as dn

rng = np.random.default_rng(0)
net = dn.NetworkConfig(depth=1, start_filters=4)
predict_config = dn.PredictionConfig(tile=64, overlap=16, tile_z=16, overlap_z=4)


def tiny(images, psf, axes, **settings):
    config = dn.TrainingConfig(
        steps=4, batch_size=2, patch_size=32, validation_fraction=0, seed=1, network=net, **settings
    )
    return dn.train(images, psf, config, axes=axes)


def save(name, model, image, axes):
    model.save(f"{name}.pt", overwrite=True)
    result = dn.predict(model, image, predict_config, axes=axes)
    np.savez_compressed(
        f"{name}.npz", image=image, denoised=result.denoised, deconvolved=result.deconvolved
    )


frames = rng.poisson(40, (2, 48, 48)).astype(np.float32)
save("model-2d", tiny(frames, dn.gaussian_psf(1.5), "SYX"), frames[0], "YX")
channels = rng.poisson(40, (2, 48, 48)).astype(np.float32)
psfs = [dn.gaussian_psf(1.2), dn.gaussian_psf(2.0)]
save("model-channels", tiny(channels, psfs, "CYX"), channels, "CYX")
stack = rng.poisson(40, (12, 32, 32)).astype(np.float32)
save(
    "model-3d",
    tiny(stack, dn.gaussian_psf_3d(1.2, 1.0, planes=5), "ZYX", mode="3d", patch_size_z=8),
    stack,
    "ZYX",
)

# model-2d-float32-weights.npz (added later, also with 0.1 = 6f6d939): model-2d's training in
# float32, whose weights every CPU class reproduces (model-2d.pt trained in bfloat16 on a CPU with
# native bfloat16; an AVX2 CPU emulates bfloat16 with other roundings)
float32 = tiny(frames, dn.gaussian_psf(1.5), "SYX", precision="float32")
np.savez_compressed(
    "model-2d-float32-weights.npz",
    **{name: weights.numpy() for name, weights in float32.network.state_dict().items()},
)
