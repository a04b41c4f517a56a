"""The subset of Python a spot policy is written in, checked before anything of it runs.

A spot candidate is compiled with Numba in nopython mode and called from the C++ loop
inside the jail that holds the train traces. So that compiled code can do nothing but
compute an action from its ``obs`` and ``mem`` arrays, the program must be:

- at module level: a docstring, ``import math``, ``import numpy`` / ``import numpy as
  np``, ``from math import ...``, constants (numbers, strings, tuples, arithmetic of
  them) and plain function definitions (no decorators; defaults and annotations are
  constants or allowed names);
- inside functions: assignments, ``if``/``for``/``while``, ``return``, ``break``,
  ``continue``, ``pass``, ``assert``, ``raise``, ``try``, nested plain functions, and
  expressions over numbers, arrays, tuples and lists;
- names: the program's own, the builtins listed in :data:`BUILTINS`, ``math.X`` for any
  public name of ``math``, ``np.X`` for the names in :data:`NUMPY`, and the array
  methods and attributes in :data:`METHODS`; never a name or attribute that starts with
  an underscore.

Anything else (``import os``, ``numba``, ``ctypes``, ``np.ctypeslib``, ``arr.ctypes``,
dunders, classes, ``with``, ``global``, ``open``, ``getattr``...) is refused, naming the
line and the construct.
"""

from __future__ import annotations

import ast
import math

BUILTINS = frozenset({
    "abs", "min", "max", "int", "float", "bool", "range", "len", "round", "enumerate",
    "zip", "sum", "divmod", "pow", "True", "False", "None", "ValueError", "RuntimeError",
    "ZeroDivisionError", "IndexError", "AssertionError", "ArithmeticError", "Exception",
})
MATH = frozenset(name for name in dir(math) if not name.startswith("_"))
NUMPY = frozenset({
    "zeros", "ones", "empty", "full", "zeros_like", "ones_like", "empty_like", "full_like",
    "arange", "linspace", "array", "asarray", "copy", "mean", "median", "sum", "std", "var",
    "min", "max", "amin", "amax", "minimum", "maximum", "abs", "absolute", "fabs", "sqrt",
    "exp", "expm1", "log", "log1p", "log2", "log10", "floor", "ceil", "round", "rint",
    "trunc", "clip", "sign", "square", "power", "isnan", "isinf", "isfinite", "argmax",
    "argmin", "argsort", "sort", "cumsum", "cumprod", "prod", "dot", "where", "any", "all",
    "diff", "interp", "percentile", "quantile", "nanmean", "nanmax", "nanmin", "nansum",
    "count_nonzero", "searchsorted", "tanh", "sinh", "cosh", "sin", "cos", "tan", "arcsin",
    "arccos", "arctan", "arctan2", "hypot", "int8", "int16", "int32", "int64", "uint8",
    "float32", "float64", "bool_", "inf", "nan", "pi", "e", "concatenate", "flip",
    "histogram", "bincount", "unique", "convolve", "average", "ptp", "fmax", "fmin", "mod",
    "remainder", "floor_divide", "true_divide", "divide", "multiply", "add", "subtract",
    "negative", "reciprocal", "exp2", "logical_and", "logical_or", "logical_not", "greater",
    "less", "equal",
})
METHODS = frozenset({
    "shape", "size", "ndim", "sum", "mean", "min", "max", "argmin", "argmax", "std", "var",
    "copy", "fill", "cumsum", "cumprod", "prod", "any", "all", "sort", "argsort", "reshape",
    "ravel", "flatten", "item", "T", "real", "imag", "append", "pop", "insert", "index",
    "count", "clip", "round", "astype", "conjugate", "is_integer",
})
_MODULES = {"math": MATH, "numpy": NUMPY}

_MODULE_STATEMENTS = (ast.Expr, ast.Import, ast.ImportFrom, ast.Assign, ast.AnnAssign,
                      ast.FunctionDef)
_BODY_STATEMENTS = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Return, ast.If, ast.For,
                    ast.While, ast.Break, ast.Continue, ast.Pass, ast.Expr, ast.Assert,
                    ast.Raise, ast.Try, ast.FunctionDef, ast.Delete)
_EXPRESSIONS = (ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.IfExp, ast.Compare, ast.Call,
                ast.Constant, ast.Attribute, ast.Subscript, ast.Slice, ast.Name, ast.Tuple,
                ast.List, ast.ListComp, ast.GeneratorExp, ast.Starred, ast.NamedExpr,
                ast.Lambda, ast.JoinedStr, ast.FormattedValue)
_OTHER_NODES = (ast.expr_context, ast.boolop, ast.operator, ast.unaryop, ast.cmpop,
                ast.comprehension, ast.arguments, ast.arg, ast.keyword, ast.ExceptHandler,
                ast.alias)
_CONSTANT_TYPES = (int, float, bool, str, type(None))
_CONSTANT_EXPRESSIONS = (ast.Constant, ast.UnaryOp, ast.BinOp, ast.Tuple, ast.Name,
                         ast.Attribute, ast.unaryop, ast.operator, ast.Load)
_RULE = ("a spot policy is numbers, math, numpy arrays and plain functions "
         "(see the problem's description)")


class PolicyRefused(ValueError):
    """The program is outside the subset; the message names the line and construct."""


def check_policy_program(source: str, filename: str = "candidate.py") -> None:
    """Refuse a program outside the subset (see the module docstring).

    Raises:
        PolicyRefused: The first construct outside it, with its line.
        ValueError: A syntax error, with its line.
    """
    try:
        tree = ast.parse(source, filename)
    except SyntaxError as exc:
        raise ValueError(f"syntax error in {filename} at line {exc.lineno}: {exc.msg}") \
            from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise ValueError(f"{filename} cannot be parsed: {type(exc).__name__}") from None
    _Checker(filename, tree).check()


class _Checker:
    def __init__(self, filename: str, tree: ast.Module) -> None:
        self.filename = filename
        self.tree = tree
        self.modules: dict[str, frozenset[str]] = {}  # alias -> allowed attributes
        self.bound = _bound_names(tree)

    def refuse(self, node: ast.AST, what: str) -> PolicyRefused:
        line = getattr(node, "lineno", "?")
        return PolicyRefused(f"{self.filename} line {line}: {what} is not allowed: {_RULE}")

    def check(self) -> None:
        for statement in self.tree.body:  # aliases first: functions may precede imports
            if isinstance(statement, ast.Import):
                for alias in statement.names:
                    if alias.name in _MODULES:
                        self.modules[alias.asname or alias.name] = _MODULES[alias.name]
        for statement in self.tree.body:
            if not isinstance(statement, _MODULE_STATEMENTS):
                raise self.refuse(statement, f"a module-level {_kind(statement)}")
            if isinstance(statement, ast.Expr):
                if not (isinstance(statement.value, ast.Constant)
                        and isinstance(statement.value.value, str)):
                    raise self.refuse(statement, "module-level code other than a docstring")
            elif isinstance(statement, ast.Import):
                for alias in statement.names:
                    if alias.name not in _MODULES:
                        raise self.refuse(statement, f"import {alias.name}")
            elif isinstance(statement, ast.ImportFrom):
                if statement.module != "math" or statement.level:
                    raise self.refuse(statement, f"from {statement.module} import")
                for alias in statement.names:
                    if alias.name not in MATH:
                        raise self.refuse(statement, f"from math import {alias.name}")
            elif isinstance(statement, (ast.Assign, ast.AnnAssign)):
                self.constant_assignment(statement)
            else:
                self.function(statement)

    def constant_assignment(self, node: ast.Assign | ast.AnnAssign) -> None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            names = target.elts if isinstance(target, ast.Tuple) else [target]
            for name in names:
                if not isinstance(name, ast.Name):
                    raise self.refuse(node, "assigning to anything but a name at module level")
                self.name(name)
        if isinstance(node, ast.AnnAssign):
            self.expression(node.annotation)
        if node.value is not None:
            self.constant(node.value)

    def constant(self, node: ast.AST) -> None:
        for child in ast.walk(node):
            if not isinstance(child, _CONSTANT_EXPRESSIONS):
                raise self.refuse(child, f"{_kind(child)} in a module-level constant")
            if isinstance(child, ast.Constant) and not isinstance(child.value, _CONSTANT_TYPES):
                raise self.refuse(child, f"a {type(child.value).__name__} constant")
        self.expression(node)

    def function(self, node: ast.FunctionDef) -> None:
        if node.decorator_list:
            raise self.refuse(node, f"a decorator on {node.name}()")
        self.name(node, node.name)
        args = node.args
        for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
            if arg is not None:
                self.name(arg, arg.arg)
                if arg.annotation is not None:
                    self.expression(arg.annotation)
        for default in [*args.defaults, *args.kw_defaults]:
            if default is not None:
                self.constant(default)
        if node.returns is not None:
            self.expression(node.returns)
        for statement in node.body:
            self.statement(statement)

    def statement(self, node: ast.stmt) -> None:
        if not isinstance(node, _BODY_STATEMENTS):
            raise self.refuse(node, f"a {_kind(node)} statement")
        if isinstance(node, ast.FunctionDef):
            self.function(node)
            return
        for field, value in ast.iter_fields(node):
            items = value if isinstance(value, list) else [value]
            for item in items:
                if isinstance(item, ast.stmt):
                    self.statement(item)
                elif isinstance(item, ast.ExceptHandler):
                    if item.type is not None:
                        self.expression(item.type)
                    if item.name:
                        self.name(item, item.name)
                    for inner in item.body:
                        self.statement(inner)
                elif isinstance(item, ast.AST):
                    self.expression(item)
            del field

    def expression(self, node: ast.AST) -> None:
        for child in ast.walk(node):
            if isinstance(child, ast.Attribute):
                self.attribute(child)
            elif isinstance(child, ast.Name):
                self.name(child)
                if isinstance(child.ctx, ast.Load) and child.id not in self.bound \
                        and child.id not in BUILTINS and child.id not in self.modules:
                    raise self.refuse(child, f"the name {child.id!r}")
            elif isinstance(child, ast.arg):
                self.name(child, child.arg)
            elif isinstance(child, ast.Constant):
                if not isinstance(child.value, (*_CONSTANT_TYPES, complex)):
                    raise self.refuse(child, f"a {type(child.value).__name__} constant")
            elif not isinstance(child, (*_EXPRESSIONS, *_OTHER_NODES)):
                raise self.refuse(child, f"{_kind(child)}")

    def attribute(self, node: ast.Attribute) -> None:
        if node.attr.startswith("_"):
            raise self.refuse(node, f"the attribute {node.attr!r}")
        owner = node.value
        if isinstance(owner, ast.Name) and owner.id in self.modules:
            allowed = self.modules[owner.id]
            if node.attr not in allowed:
                module = "math" if allowed is MATH else "numpy"
                raise self.refuse(node, f"{module}.{node.attr}")
        elif node.attr not in METHODS:
            raise self.refuse(node, f"the attribute .{node.attr}")

    def name(self, node: ast.AST, text: str | None = None) -> None:
        text = text if text is not None else getattr(node, "id", "")
        if text.startswith("__"):
            raise self.refuse(node, f"the name {text!r}")


def _bound_names(tree: ast.Module) -> set[str]:
    """Every name the program binds anywhere (assigned, a parameter, a loop variable,
    a function, an import alias, an exception name)."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.FunctionDef):
            bound.add(node.name)
        elif isinstance(node, ast.alias):
            bound.add(node.asname or node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return bound


def _kind(node: ast.AST) -> str:
    names = {ast.ClassDef: "class definition", ast.With: "with", ast.Global: "global",
             ast.Nonlocal: "nonlocal", ast.AsyncFunctionDef: "async function",
             ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield from",
             ast.Dict: "a dict", ast.Set: "a set", ast.DictComp: "a dict comprehension",
             ast.SetComp: "a set comprehension", ast.If: "if", ast.For: "for",
             ast.While: "while", ast.Import: "import", ast.ImportFrom: "import",
             ast.Call: "a call", ast.Try: "try"}
    return names.get(type(node), type(node).__name__)
