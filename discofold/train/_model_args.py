"""Types and ranges of ``[model.args]``, checked against the model's constructor (private; used
by :mod:`.config`).

``[model.args]`` is passed to the model's constructor as it is, whether it came from a file, a
``--set`` or the stored config of a checkpoint someone sent, and models size their layers from
these numbers: a negative, fractional or textual width ends deep inside torch (``Trying to
create tensor with negative dimension -1``, ``out_channels must be divisible by groups``).  So
an argument is checked against the kind of its default in the constructor's signature: an
integer default asks for an integer ``>= 0`` (``>= 1`` for a main width or a stride), a float
default for a real number, a boolean default for ``true``/``false``, a string default for a
string.
Arguments without a default, or with a default of another kind, are left to the model.
"""

from __future__ import annotations

import inspect

from ..errors import ConfigError

__all__ = ["check_model_args"]

#: integer arguments for which 0 is never meaningful (a main layer of no channels, a stride of
#: 0); a secondary width may be 0 (``sens_chans = 0``: no coil-sensitivity network)
_AT_LEAST_ONE = ("chans", "channels", "hidden", "width", "modes", "upsample")


def _minimum(key: str) -> int:
    return 1 if key in _AT_LEAST_ONE or key.endswith("_stride") else 0


def _problem(value, default, key: str) -> str | None:
    """What is wrong with ``value`` for an argument whose default is ``default``, or None."""
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "true or false"
    if isinstance(default, int):
        low = _minimum(key)
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
        return None if ok else f"an integer >= {low}"
    if isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if ok else "a number"
    if isinstance(default, str):
        return None if isinstance(value, str) else "a string"
    return None


def check_model_args(name: str, args: dict) -> None:
    """Refuse a ``model.args`` value of another kind than its constructor default.

    Parameters
    ----------
    name : str
        Registered model name (an unknown one is left to :func:`discofold.models.build`, which
        names it with a suggestion).
    args : dict
        ``model.args``.

    Raises
    ------
    ConfigError
        Naming the key (``model.args.chans``), the value and what is expected.
    """
    from ..models._registry import get_spec  # lazy: the registry imports every model

    try:
        spec = get_spec(name)
    except ConfigError:
        return
    try:
        params = inspect.signature(spec.factory).parameters
    except (TypeError, ValueError):  # a factory without an inspectable signature
        return
    for key, value in args.items():
        param = params.get(key)
        if param is None or param.default is inspect.Parameter.empty:
            continue
        expected = _problem(value, param.default, key)
        if expected:
            raise ConfigError(f"config key 'model.args.{key}' of model {name!r} must be "
                              f"{expected}, got {value!r}"[:300])
