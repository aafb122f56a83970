"""Shared click pieces: option types and the error boundary."""

from __future__ import annotations

import click

from layergan.errors import LayerganError


class LayerganGroup(click.Group):
    """Turns LayerganError, and any OSError that escaped the checks (a read-only or full disk), into a
    one-line 'Error: ...' and exit code 1, with no traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except LayerganError as error:
            raise click.ClickException(str(error)) from None
        except OSError as error:
            where = f"{error.filename}: " if error.filename else ""
            raise click.ClickException(f"{where}{error.strerror or error}") from None


class SizeType(click.ParamType):
    """WIDTHxHEIGHT, e.g. 640x480."""

    name = "WxH"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            w, h = (int(v) for v in str(value).lower().split("x"))
        except ValueError:
            self.fail(f"{value!r} is not WIDTHxHEIGHT, e.g. 640x480", param, ctx)
        return w, h


SIZE = SizeType()
