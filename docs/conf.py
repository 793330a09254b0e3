"""Sphinx configuration for the autopay_soap docs."""

project = "autopay_soap"
author = "autopay_soap contributors"
copyright = "2026, autopay_soap contributors"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.viewcode"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
exclude_patterns = ["_build"]
html_theme = "alabaster"
nitpicky = True
nitpick_ignore = [("py:class", "Path"), ("py:class", "TextIO"), ("py:class", "IO"), ("py:mod", "logging"),
                  ("py:class", "'Secret'"),  # a forward reference in a signature
                  ("py:class", "username"),  # ":param username, password:" read as a type by autodoc
                  ("py:class", "TBankNotification")]  # a Union alias, documented in the callbacks chapter
nitpick_ignore_regex = [  # outside this project, with no intersphinx inventory offline
    (r"py:.*", r"(pathlib|requests|random|datetime|sqlite3|decimal|cryptography|typing|socket|threading)\..*"),
    (r"py:class", r"autopay_soap\.gateways\.base\.G"),  # a TypeVar
    (r"py:.*", r"(lxml|xmlschema|zeep|django|flask|werkzeug|starlette)\..*"),
    (r"py:class", r"Document"),  # zeep's, in a signature
    (r"py:.*", r"(dt|argparse)\..*"),  # the standard library under its module's short name
    (r"py:class", r"(autopay_soap\.sandbox\.engine\.)?Engine"),  # the sandbox's internals
]


def _find(target):
    """The object a dotted ``target`` names: absolute (``autopay_soap.Money``) or relative to the
    package's modules (``Money``, ``AutopayClient.autopay``, ``EXIT_CONFIG``)."""
    import importlib
    import pkgutil

    import autopay_soap

    parts = target.split(".")
    if parts[0] == "autopay_soap":
        for cut in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            for name in parts[cut:]:
                obj = getattr(obj, name, None)
            return obj, parts
        return None, parts
    found = _candidates(parts)
    return found[0] if found else (None, parts)


def _candidates(parts):
    """Every module of the package that has ``parts[0]``: ``[(object, full parts), ...]``."""
    import importlib
    import pkgutil

    import autopay_soap

    found = []
    for info in pkgutil.walk_packages(autopay_soap.__path__, "autopay_soap."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        obj = getattr(module, parts[0], None)
        if obj is not None:
            for name in parts[1:]:
                obj = getattr(obj, name, None)
            if obj is not None:
                found.append((obj, info.name.split(".") + parts))
    return found


def _resolve_reexport(app, env, node, contnode):
    """A name that Sphinx cannot find as written (a re-export such as ``autopay_soap.Money``, or a
    bare ``Money`` in a docstring) resolves to where it is defined (``autopay_soap.money.Money``)."""
    target = node.get("reftarget", "")
    if node.get("refdomain") != "py" or not target or target.startswith(("~", "!")):
        return None
    obj, parts = _find(target)
    if obj is None:
        return None
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if module and qualname and module.startswith("autopay_soap"):
        names = [f"{module}.{qualname}"]
        owner, _ = _find(".".join(parts[:-1])) if len(parts) > 1 else (None, None)
        if isinstance(owner, type) and owner.__module__.startswith("autopay_soap"):
            # a method the class inherits (AutopayClient's scenarios): documented on the class
            names.append(f"{owner.__module__}.{owner.__qualname__}.{parts[-1]}")
    else:  # a constant: every module that has the name (a re-export first found, the definition later)
        last = target.split(".")[-1]
        names = [".".join(p) for _, p in _candidates([last])] or [".".join(parts)]
    for canonical in names:
        if canonical == target:
            continue
        for kind in (node["reftype"], "class", "exc", "func", "meth", "attr", "data", "obj"):
            found = env.get_domain("py").resolve_xref(env, node["refdoc"], app.builder, kind, canonical, node,
                                                      contnode)
            if found is not None:
                return found
    return None


def setup(app):
    app.connect("missing-reference", _resolve_reexport)
