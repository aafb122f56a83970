"""Networks: StyleGAN2 synthesis, the ResNet-18 style encoder, generators, discriminators, baselines."""
