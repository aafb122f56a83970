"""`layergan studio`: a local web page to set object temperatures and watch the thermal image change."""
