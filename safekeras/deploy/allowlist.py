"""Deciding what a safekeras file may make the loader deserialise.

:func:`safekeras.persistence.load` assumes a file may come from an attacker.
:mod:`safekeras.deploy.container` and :mod:`safekeras.deploy.network_bytes`
read the file's parts (checking the container, the manifest and that no part
is HDF5); this module decides, by name alone, whether deserialising them could
run code, and explains a refusal.

Threat model
------------
Before anything in a file is deserialised, :func:`~safekeras.persistence.load`
refuses it with :class:`~safekeras.exceptions.UnsafeFileError` when it could
make the loader run code. Keras's ``safe_mode`` alone has been bypassed
repeatedly, so the Keras side is checked here first, by name, without
importing or calling anything the file names:

* CVE-2024-3660: Lambda layers carry marshalled Python bytecode. ``Lambda``,
  ``__lambda__`` entries, the other code-carrying layers (``TFSMLayer``,
  ``TorchModuleWrapper``, ``JaxLayer``, ``FlaxLayer``) and Keras operations
  that run Python callables (``Map``, ``Scan``, ``WhileLoop``, ...) are always
  refused, whatever ``trusted=`` says.
* CVE-2025-1550: a ``config.json`` may name any module and function
  (``"module": "os"``, ``"class_name": "system"``). Every ``module`` /
  ``class_name`` / ``registered_name`` / function reference in the config must
  be on an allow-list built from the installed Keras's public API (layers,
  initializers, regularizers, constraints, activations, optimizers and their
  schedules, losses, metrics, dtype policies, quantizers, models and Keras's
  own operations). References outside Keras and its ``keras_hub`` /
  ``keras_cv`` / ``keras_nlp`` family (``os.system``, ``builtins.exec``) are
  always refused; custom objects registered with
  ``keras.saving.register_keras_serializable`` load only when named in
  ``trusted=``.
* CVE-2025-8747: a config can call ``keras.config.enable_unsafe_deserialization``
  to switch safe mode off mid-load. Only modelling objects are on the
  allow-list; ``keras.config``, ``keras.saving``, ``keras.utils``,
  ``keras.backend`` and the ``get``/``serialize``/``deserialize`` helpers never
  are.
* CVE-2025-9905: Keras ignores ``safe_mode`` for HDF5 models. HDF5 data (the
  ``\\x89HDF`` signature, or an ``.h5`` member other than a ``.keras``
  archive's weights) is refused by :mod:`safekeras.deploy.archive` when the
  file is read, and by :func:`~safekeras.deploy.network_bytes.model_from_bytes`.
* Keras older than :data:`~safekeras.persistence.MIN_KERAS_VERSION` lacks those
  fixes: :func:`~safekeras.persistence.load` refuses to run under it.

The skops payload is checked, from the type names
:func:`skops.io.get_untrusted_types` lists, against the types a fitted
safekeras estimator contains (safekeras's own classes, the scikit-learn parts
skops trusts, the functions of the ``"auto"`` preprocessor, NumPy dtypes,
imbalanced-learn samplers, all named in :mod:`safekeras.deploy.type_names`,
and the SciPy B-spline a fitted ``SplineTransformer`` holds, with the array
function stored in it) plus ``trusted=``. A type under a module path of the layout before the stage
packages is refused with :class:`~safekeras.exceptions.PersistenceError`
asking for a new save, not offered to ``trusted=``.

Before any of this, :mod:`safekeras.deploy.archive` reads the file, each
``.keras`` member and the skops payload within bounds decided from the zip's
central directory (stored and deflated members only, no encryption flags, no
duplicated or overlapping members, caps per member and for the whole load), so
a decompression bomb is refused before it is inflated; Keras and skops then
open archives safekeras rewrote from exactly the members it checked. The
bounds are listed in ``docs/persistence.md`` ("Hostile containers").

Loading does not protect against code already on the loader's machine (a
custom layer you register and trust runs as written), and HDF5 weights inside
a ``.keras`` archive are read as data by h5py.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
from dataclasses import dataclass

from ..exceptions import ParameterError
from .type_names import LEGACY_TYPES, SAFEKERAS_TYPES, qualified_name

__all__ = [
    "Problem",
    "defined_in_keras",
    "keras_config_problems",
    "normalise_trusted",
    "qualified_name",
    "refusal_message",
    "skops_problems",
]


# Keras layers whose config carries code or loads code from elsewhere: bytecode
# (CVE-2024-3660), a TensorFlow SavedModel, a pickled torch module, JAX/Flax callables.
_DENIED_CLASSES = frozenset({"Lambda", "TFSMLayer", "TorchModuleWrapper", "JaxLayer", "FlaxLayer"})
# Keras operations that take Python callables (control flow, custom gradients).
_DENIED_OPERATIONS = frozenset(
    {
        "AssociativeScan",
        "Cond",
        "CustomGradient",
        "ForiLoop",
        "Map",
        "Scan",
        "Switch",
        "VectorizedMap",
        "WhileLoop",
    }
)
# Config markers Keras turns into code.
_DENIED_MARKERS = frozenset({"__lambda__", "__typespec__"})
# Config markers Keras turns into plain data (tensors, arrays, bytes, slices).
_DATA_MARKERS = frozenset(
    {"__keras_tensor__", "__tensor__", "__numpy__", "__bytes__", "__ellipsis__", "__slice__"}
)
# Named in refusals because each has been used to switch safe mode off (CVE-2025-8747).
_DENIED_FUNCTIONS = frozenset({"enable_unsafe_deserialization"})
# Keras namespaces with no modelling objects (configuration, file and registry helpers).
_NON_MODELLING_MODULES = frozenset({"keras.config", "keras.saving", "keras.utils", "keras.backend"})
# Packages Keras imports classes from by module name; a user may trust their classes.
_KERAS_FAMILY = frozenset({"keras_hub", "keras_cv", "keras_nlp"})
# Keras's public namespaces whose classes a model config may name.
_KERAS_CLASS_MODULES = (
    "keras",
    "keras.layers",
    "keras.models",
    "keras.initializers",
    "keras.regularizers",
    "keras.constraints",
    "keras.activations",
    "keras.optimizers",
    "keras.optimizers.schedules",
    "keras.losses",
    "keras.metrics",
    "keras.dtype_policies",
    "keras.quantizers",
)
# Keras's public namespaces whose functions a model config may name.
_KERAS_FUNCTION_MODULES = ("keras.activations", "keras.losses", "keras.metrics")
# Where Keras looks up a function saved as {"module": "builtins", "class_name": "function"}
# (Keras keeps these in an unordered set, so every match must be allowed).
_KERAS_BUILTIN_FUNCTION_MODULES = (
    "activations",
    "constraints",
    "initializers",
    "losses",
    "metrics",
    "optimizers",
    "regularizers",
)
# Public helpers that look objects up rather than compute; never modelling objects.
_LOOKUP_FUNCTIONS = frozenset({"get", "serialize", "deserialize"})

# imbalanced-learn namespaces whose samplers an estimator's ``sampler`` may hold.
_IMBLEARN_MODULES = ("imblearn.under_sampling", "imblearn.over_sampling", "imblearn.combine")


# -- problems and refusals -------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One reason to refuse a file: a name, why, and whether ``trusted=`` may allow it."""

    name: str
    reason: str
    trustable: bool
    where: str = ""

    def describe(self) -> str:
        place = f" in {self.where}" if self.where else ""
        return f"{self.name!r}{place} ({self.reason})"


def refusal_message(name: str, problems: list) -> str:
    """The message of the ``UnsafeFileError`` refusing file ``name`` for ``problems``."""
    denied = [problem for problem in problems if not problem.trustable]
    untrusted = [problem for problem in problems if problem.trustable]
    parts = [f"{name} was refused because loading it could run code."]
    if denied:
        parts.append(
            "It contains objects safekeras never loads: "
            + "; ".join(problem.describe() for problem in denied)
            + "."
        )
    if untrusted:
        names = sorted({problem.name for problem in untrusted})
        parts.append(
            "It names objects outside safekeras's allow-list: "
            + "; ".join(problem.describe() for problem in untrusted)
            + ". Only if you trust the file's author, pass them to load: "
            f"safekeras.load(path, trusted={names!r})."
        )
    return " ".join(parts)


def _unique(problems: list) -> list:
    seen, unique = set(), []
    for problem in problems:
        key = (problem.name, problem.reason, problem.where)
        if key not in seen:
            seen.add(key)
            unique.append(problem)
    return unique


# -- names the caller trusts -----------------------------------------------------------------


def normalise_trusted(trusted) -> frozenset:
    """The names in ``load(trusted=...)`` as a frozenset, or a ParameterError."""
    if trusted is None:
        return frozenset()
    if isinstance(trusted, (str, bytes)):
        raise ParameterError(
            f"trusted must be a list of names, e.g. trusted=[{trusted!r}]; got a single string."
        )
    try:
        names = list(trusted)
    except TypeError:
        raise ParameterError(
            f"trusted must be a list of strings or None; got {type(trusted).__name__}."
        ) from None
    wrong = [name for name in names if not isinstance(name, str)]
    if wrong:
        raise ParameterError(
            "trusted must hold names as strings (e.g. 'my_package>MyLayer' or "
            f"'my_module.MyTransformer'); got {wrong[0]!r}."
        )
    return frozenset(names)


# -- checking the Keras side -----------------------------------------------------------------

# safekeras's own registered objects that a network it saves holds and whose configs are
# numbers and names only (nothing they name is imported or called): the regressor's Poisson
# loss (safekeras.network.losses), in the compile config of a network fitted with it.
_SAFEKERAS_OWN = frozenset({"safekeras>PoissonDeviance"})


def keras_config_problems(config, trusted: frozenset, where: str = "") -> list:
    """Every object a Keras config names that is not allowed, walking all nesting.

    Only names are compared; nothing named in the config is imported or called.
    """
    import keras

    allowed = _keras_allow_list()
    custom = frozenset(keras.saving.get_custom_objects())
    trusted = trusted | _SAFEKERAS_OWN
    problems = []
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if {"class_name", "module", "registered_name"} & node.keys():
                problem = _entry_problem(node, allowed, custom)
                if problem is not None and not (problem.trustable and problem.name in trusted):
                    problems.append(Problem(problem.name, problem.reason, problem.trustable, where))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str) and node in custom and node not in trusted:
            # Keras returns a registered object for any config string equal to its name.
            problems.append(Problem(node, "a registered custom object", True, where))
    return _unique(problems)


def _entry_problem(entry: dict, allowed: _KerasAllowList, custom: frozenset) -> Problem | None:
    """Why Keras deserialising this config entry could run code outside the allow-list."""
    class_name = entry.get("class_name")
    module = entry.get("module")
    # Keras looks a class up by registered_name, defaulting to class_name when absent.
    registered = entry.get("registered_name", class_name)
    if not all(isinstance(value, (str, type(None))) for value in (class_name, module, registered)):
        return Problem(repr(class_name), "a malformed Keras object entry", False)
    if class_name in _DENIED_MARKERS:
        return Problem(class_name, "serialised Python code (CVE-2024-3660)", False)
    if class_name in _DATA_MARKERS:
        return None
    if class_name in _DENIED_CLASSES:
        return Problem(class_name, "a Keras layer that carries or loads code", False)
    if class_name in _DENIED_OPERATIONS and _is_keras_module(module or ""):
        return Problem(class_name, "a Keras operation that runs Python callables", False)
    if class_name is None:
        # Not deserialised as an object by Keras, but a module reference has no place here.
        if module is None or module == "builtins" or _is_keras_module(module):
            return None
        return Problem(module, "a module outside Keras (CVE-2025-1550 pattern)", False)
    if class_name == "function":
        return _function_problem(entry, module, registered, allowed, custom)
    if class_name in custom or registered in custom:
        name = registered if registered in custom else class_name
        return Problem(name, "a registered custom object", True)
    if registered is not None and registered != class_name:
        return Problem(registered, "a custom object (registered name)", True)
    if module is not None and (module, class_name) in allowed.classes:
        return None
    if module is None:
        return Problem(
            class_name,
            "a custom class not registered in this process; import the module that registers it",
            False,
        )
    return _module_problem(module, class_name, "class")


def _function_problem(entry, module, registered, allowed, custom) -> Problem | None:
    function = entry.get("config")
    if not isinstance(function, str):
        return Problem(repr(function), "a malformed Keras function reference", False)
    # Keras resolves a registered function by the name in "config" before anything else.
    if function in custom or ">" in function:
        return Problem(function, "a registered custom function", True)
    if registered not in (None, "function", function):
        return Problem(registered, "a custom function (registered name)", True)
    if module == "builtins":
        if function in allowed.builtin_functions:
            return None
        # Keras also matches a bare name to a registered "package>name".
        suffixed = sorted(name for name in custom if name.endswith(f">{function}"))
        if suffixed:
            return Problem(suffixed[0], "a registered custom function", True)
        return Problem(function, "not a Keras activation, loss or metric function", False)
    if module is not None and (module, function) in allowed.functions:
        return None
    return _module_problem(module, function, "function")


def _module_problem(module: str | None, name: str, kind: str) -> Problem:
    """A reference by module to a class or function that is not on the allow-list."""
    qualified = f"{module}.{name}"
    if name in _DENIED_FUNCTIONS:
        return Problem(qualified, "switches Keras's safe mode off (CVE-2025-8747)", False)
    package = (module or "").split(".")[0]
    if package == "keras":
        if module in _NON_MODELLING_MODULES:
            return Problem(qualified, "a Keras API that is not a modelling object", False)
        return Problem(qualified, f"a Keras {kind} outside the modelling allow-list", True)
    if package in _KERAS_FAMILY:
        return Problem(qualified, f"a {package} {kind}", True)
    # Keras itself imports nothing outside its family; a file naming os or builtins is an attack.
    return Problem(qualified, f"a {kind} outside Keras (CVE-2025-1550 pattern)", False)


def _is_keras_module(module: str) -> bool:
    return module == "keras" or module.startswith("keras.")


@dataclass(frozen=True)
class _KerasAllowList:
    classes: frozenset  # (module, class name) pairs
    functions: frozenset  # (module, function name) pairs
    builtin_functions: frozenset  # names Keras resolves from {"module": "builtins"}


@functools.lru_cache(maxsize=1)
def _keras_allow_list() -> _KerasAllowList:
    """Built from the installed Keras's public API, so it follows Keras versions.

    A class is allowed under the public namespace that exports it and under the
    module that defines it (Keras resolves both), minus the code-carrying ones.
    """
    import keras

    classes, functions, allowed_objects = set(), set(), set()

    def allow_class(module: str, name: str, cls) -> None:
        classes.add((module, name))
        classes.add((cls.__module__, cls.__name__))
        allowed_objects.add(cls)

    for module_name in _KERAS_CLASS_MODULES:
        namespace = _keras_namespace(keras, module_name)
        for name, obj in vars(namespace).items():
            if name.startswith("_") or name in _DENIED_CLASSES:
                continue
            if inspect.isclass(obj):
                if (
                    obj.__name__ not in _DENIED_CLASSES
                    and defined_in_keras(obj)
                    and hasattr(obj, "from_config")
                ):
                    allow_class(module_name, name, obj)
            elif (
                module_name in _KERAS_FUNCTION_MODULES
                and inspect.isfunction(obj)
                and defined_in_keras(obj)
                and name not in _LOOKUP_FUNCTIONS
            ):
                functions.add((module_name, name))
                allowed_objects.add(obj)
    # Functional models are saved under their defining module, and functional graphs
    # built with keras.ops save Keras's own operation classes: neither is exported.
    for cls in _subclasses(keras.Model):
        if cls.__name__ == "Functional" and cls.__module__.startswith("keras.src.models."):
            allow_class(cls.__module__, cls.__name__, cls)
    for cls in _subclasses(keras.Operation):
        if cls.__module__.startswith("keras.src.ops.") and cls.__name__ not in _DENIED_OPERATIONS:
            allow_class(cls.__module__, cls.__name__, cls)
    # On torch, Keras swaps each built-in optimizer for a subclass of the same name in
    # keras.src.backend.torch.optimizers, and a model saved there names that subclass.
    _import_backend_optimizers(keras)
    for cls in _subclasses(keras.optimizers.Optimizer):
        if cls.__module__.startswith("keras.src.backend.") and any(
            base in allowed_objects and base.__name__ == cls.__name__ for base in cls.__mro__[1:]
        ):
            allow_class(cls.__module__, cls.__name__, cls)

    builtin_functions = set()
    candidates = {name for _, name in functions}
    for name in candidates:
        found = [
            getattr(_keras_namespace(keras, f"keras.{module}"), name, None)
            for module in _KERAS_BUILTIN_FUNCTION_MODULES
        ]
        found = [obj for obj in found if obj is not None]
        if found and all(obj in allowed_objects for obj in found):
            builtin_functions.add(name)
    return _KerasAllowList(frozenset(classes), frozenset(functions), frozenset(builtin_functions))


def _import_backend_optimizers(keras) -> None:
    """Import the backend's own optimizer classes (torch imports them on first use only)."""
    package_name = f"keras.src.backend.{keras.backend.backend()}.optimizers"
    try:
        package = importlib.import_module(package_name)
    except ImportError:
        return  # TensorFlow and JAX train with the classes keras.optimizers exports
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package_name}.{module.name}")


def _keras_namespace(keras, dotted: str):
    namespace = keras
    for part in dotted.split(".")[1:]:
        namespace = getattr(namespace, part)
    return namespace


def defined_in_keras(obj) -> bool:
    """Whether ``obj`` (a class or function) comes from a module of Keras itself."""
    return _is_keras_module(getattr(obj, "__module__", None) or "")


def _subclasses(cls) -> set:
    found, stack = set(), [cls]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                stack.append(sub)
    return found


# -- checking the skops side -----------------------------------------------------------------


def skops_problems(untrusted: list, trusted: frozenset, where: str) -> list:
    """Problems for the ``untrusted`` skops types that neither safekeras nor ``trusted`` allows."""
    allowed = _skops_allow_list()
    imblearn = _imblearn_types() if any(n.startswith("imblearn.") for n in untrusted) else set()
    # A name of the old layout is not an unknown type: load refuses it with its own message.
    return [
        Problem(name, "a type outside safekeras's allow-list", True, where)
        for name in untrusted
        if name not in allowed
        and name not in imblearn
        and name not in trusted
        and name not in LEGACY_TYPES
    ]


def _skops_allow_list() -> frozenset:
    """Types a fitted safekeras estimator holds that skops does not trust by default."""
    return frozenset(SAFEKERAS_TYPES) | {"numpy.dtype", "builtins.frozenset"} | _spline_types()


@functools.lru_cache(maxsize=1)
def _spline_types() -> frozenset:
    """The installed SciPy's names for what a fitted ``SplineTransformer`` holds.

    Its ``bsplines_`` are ``scipy.interpolate.BSpline`` objects: knots,
    coefficients and the array-namespace function SciPy keeps in each (a
    reference skops restores by name; nothing calls it while loading). Their
    numbers are checked after the load, before anything evaluates them
    (:mod:`safekeras.deploy.spline_checks`). The names are read off a BSpline
    of the installed SciPy, whose private module paths move between releases.
    """
    import numpy as np
    from scipy.interpolate import BSpline

    spline = BSpline(np.arange(2.0), np.ones(1), 0)
    functions = [value for value in vars(spline).values() if callable(value)]
    return frozenset(qualified_name(obj) for obj in [type(spline), *functions])


@functools.lru_cache(maxsize=1)
def _imblearn_types() -> frozenset:
    """imbalanced-learn's public samplers, except FunctionSampler (it holds a callable)."""
    names = set()
    for module_name in _IMBLEARN_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name, None)
            if inspect.isclass(obj) and name != "FunctionSampler":
                names.add(qualified_name(obj))
    return frozenset(names)
