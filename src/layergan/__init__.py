"""layergan: synthesize thermal (LWIR) images from colour images and semantic segmentation."""

__version__ = "0.1.0"
