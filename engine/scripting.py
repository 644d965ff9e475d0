"""Restricted script engine for designer-authored BPMN code.

Designers edit diagrams in the browser, so every gateway condition, script task, timer
expression and pre/post script is untrusted input. SpiffWorkflow's default engine runs
them with plain ``eval``/``exec``, which is a remote shell. This module runs them instead:

1. through an AST pre-check with plain English messages (no imports, no ``_`` names, no
   introspection builtins, no frame attributes, ...);
2. compiled by RestrictedPython, with a policy that also routes ``+ * ** << %`` and
   f-strings through size guards;
3. against an allow-list of builtins and RestrictedPython guards;
4. under a ``sys.settrace`` budget (wall-clock deadline plus event count), which works in
   any thread because it needs no signals.

Aborts raised inside the sandbox derive from ``BaseException`` so that a script's own
``except Exception`` cannot swallow them; they surface as :class:`ScriptRefused`.

Known limit: an in-process sandbox cannot bound memory or the C stack completely. The
obvious bombs are refused (huge ``*``/``**``/``<<``, ``range``, padding, ``join``,
``str()`` of huge structures, nested lazy iterators), but e.g. hashing a tuple nested
200,000 levels deep still overflows the C stack. Full isolation needs a worker process
with resource limits.
"""

from __future__ import annotations

import ast
import builtins
import collections.abc
import functools
import operator
import re
import sys
import time
import types
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from RestrictedPython import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence
from RestrictedPython.transformer import (
    INSPECT_ATTRIBUTES,
    RestrictingNodeTransformer,
    copy_locations,
)
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import BasePythonScriptEngineEnvironment, PythonScriptEngine
from SpiffWorkflow.exceptions import SpiffWorkflowException, WorkflowException

__all__ = [
    "DEFAULT_MAX_EVENTS",
    "DEFAULT_TIME_LIMIT",
    "MAX_RANGE_LENGTH",
    "MAX_SEQUENCE_LENGTH",
    "RestrictedEnvironment",
    "RestrictedScriptEngine",
    "ScriptRefused",
    "check_code",
]

DEFAULT_TIME_LIMIT = 1.0
"""Seconds a single expression or script may run."""
DEFAULT_MAX_EVENTS = 10_000_000
"""Trace events (calls, lines, returns) a single expression or script may produce."""
MAX_SOURCE_LENGTH = 50_000
"""Characters; designer code is short, and parsing giant inputs is itself a cost."""
MAX_RANGE_LENGTH = 100_000
MAX_SEQUENCE_LENGTH = 1_000_000
"""Items (or characters) a guarded operation may produce."""
MAX_INT_BITS = 100_000
"""About 30,000 decimal digits: far beyond business arithmetic, far below a CPU bomb."""
MAX_CALL_DEPTH = 200
"""Nested Python calls (sandboxed functions, guards and helpers) a script may make."""
_RECURSION_MARGIN = 50
MAX_FORMAT_WIDTH = 1_000
"""Largest width/precision in f-string format specs and %-formatting."""

FORBIDDEN_NAMES = frozenset(
    {
        "exec",
        "eval",
        "open",
        "compile",
        "globals",
        "locals",
        "vars",
        "getattr",
        "setattr",
        "delattr",
        "hasattr",
        "__import__",
        "type",
        "object",
        "input",
        "breakpoint",
        "help",
        "memoryview",
        "dir",
        "super",
        "classmethod",
        "staticmethod",
        "property",
        "exit",
        "quit",
        "builtins",
    }
)
"""Introspection, I/O and code-loading builtins; refused even as plain variable names."""

BLOCKED_ATTRIBUTES = frozenset(INSPECT_ATTRIBUTES | {"format", "format_map", "mro"})
"""``str.format`` reads attributes by name (``'{0.__class__}'``); ``mro`` reaches ``object``."""

# Frame, generator, coroutine, traceback and code object attributes all use these prefixes.
_INTERNAL_ATTRIBUTE = re.compile(r"^(?:gi|cr|ag|tb|co|f)_")

_INTERNAL_TYPES = (
    types.ModuleType,
    types.FrameType,
    types.CodeType,
    types.TracebackType,
    types.GeneratorType,
    types.CoroutineType,
    types.AsyncGeneratorType,
)
"""Objects whose attributes lead to frames, globals or code; never introspected."""
_CODE_LIKE_TYPES = (*_INTERNAL_TYPES, collections.abc.Iterator)
"""Values that may not leave the sandbox as data (besides callables)."""
_SEQUENCE_TYPES = (str, bytes, bytearray, list, tuple)
_SCRIPT_FILENAME = "<string>"  # what PythonScriptEngine looks for in tracebacks


class ScriptRefused(WorkflowTaskException):
    """Designer code was refused or stopped by the sandbox.

    A :class:`WorkflowTaskException`, so callers that handle SpiffWorkflow task errors
    handle this too. ``task`` is optional because SpiffWorkflow also evaluates some
    conditions through the environment directly, without a task.
    """

    def __init__(
        self,
        message: str,
        task: Any = None,
        line_number: int | None = None,
        error_line: str | None = None,
    ) -> None:
        if task is not None:
            super().__init__(message, task=task, line_number=line_number, error_line=error_line)
        else:
            WorkflowException.__init__(self, message)
            self.task = None
            self.line_number = line_number
            self.offset = None
            self.error_line = error_line
            self.task_trace = []
        self.message = message
        self.error_type = "ScriptRefused"


class _Violation(Exception):
    """A static policy violation found before any code runs."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line

    def describe(self, source: str) -> str:
        if self.line and "\n" in source.strip():
            return f"{self.message} (line {self.line})"
        return self.message


class _ScriptAbort(BaseException):
    """Raised inside the sandbox. A BaseException so that ``except Exception`` cannot catch it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _abort(message: str) -> NoReturn:
    raise _ScriptAbort(message)


# ---------------------------------------------------------------------------
# Static checks
# ---------------------------------------------------------------------------


class _PolicyChecker(ast.NodeVisitor):
    """Refuses dangerous constructs with a message a designer can act on."""

    def _fail(self, node: ast.AST, message: str) -> NoReturn:
        raise _Violation(message, getattr(node, "lineno", None))

    def _check_identifier(self, node: ast.AST, name: str | None) -> None:
        if name is None:
            return
        if name.startswith("_"):
            self._fail(node, f"Names starting with '_' are not allowed: {name}")
        if name in FORBIDDEN_NAMES:
            self._fail(node, f"'{name}' is not allowed")

    def visit_Import(self, node: ast.Import) -> None:
        self._fail(node, "Import statements are not allowed")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self._fail(node, "Import statements are not allowed")

    def visit_Global(self, node: ast.Global) -> None:
        self._fail(node, "global statements are not allowed")

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        self._fail(node, "nonlocal statements are not allowed")

    def visit_Name(self, node: ast.Name) -> None:
        self._check_identifier(node, node.id)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr.startswith("_"):
            self._fail(node, f"Names starting with '_' are not allowed: {node.attr}")
        if node.attr in BLOCKED_ATTRIBUTES or _INTERNAL_ATTRIBUTE.match(node.attr):
            hint = " (use an f-string instead)" if node.attr.startswith("format") else ""
            self._fail(node, f"Access to the attribute '{node.attr}' is not allowed{hint}")
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._check_identifier(node, node.name)
        self.generic_visit(node)

    def visit_arg(self, node: ast.arg) -> None:
        self._check_identifier(node, node.arg)
        self.generic_visit(node)

    def visit_keyword(self, node: ast.keyword) -> None:
        self._check_identifier(node, node.arg)
        self.generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._fail(node, "Class definitions are not allowed")

    def visit_Yield(self, node: ast.Yield) -> None:
        self._fail(node, "yield is not allowed (generator functions are not supported)")

    def visit_YieldFrom(self, node: ast.YieldFrom) -> None:
        self._fail(node, "yield is not allowed (generator functions are not supported)")

    def _refuse_async(self, node: ast.AST) -> None:
        self._fail(node, "async code is not allowed")

    visit_AsyncFunctionDef = _refuse_async
    visit_Await = _refuse_async
    visit_AsyncFor = _refuse_async
    visit_AsyncWith = _refuse_async

    def visit_comprehension(self, node: ast.comprehension) -> None:
        if node.is_async:
            self._refuse_async(node)
        self.generic_visit(node)

    def visit_With(self, node: ast.With) -> None:
        self._fail(node, "with statements are not allowed")

    def visit_Match(self, node: ast.Match) -> None:
        self._fail(node, "match statements are not allowed")

    def visit_TryStar(self, node: ast.AST) -> None:
        self._fail(node, "except* is not allowed")

    def visit_Try(self, node: ast.Try) -> None:
        # 'return'/'break'/'continue' in 'finally' would swallow the sandbox's own abort.
        for statement in node.finalbody:
            for child in ast.walk(statement):
                if isinstance(child, ast.Return | ast.Break | ast.Continue):
                    self._fail(child, "return, break and continue inside 'finally' are not allowed")
        self.generic_visit(node)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.type is None:
            self._fail(
                node,
                "Bare 'except:' is not allowed; name the exception (e.g. 'except ValueError:')",
            )
        self._check_identifier(node, node.name)
        self.generic_visit(node)

    def _refuse_starred_display(self, node: ast.List | ast.Tuple | ast.Set) -> None:
        if isinstance(getattr(node, "ctx", ast.Load()), ast.Load) and any(
            isinstance(element, ast.Starred) for element in node.elts
        ):
            self._fail(node, "Unpacking (*x) inside list, tuple or set literals is not allowed")
        self.generic_visit(node)

    visit_List = _refuse_starred_display
    visit_Tuple = _refuse_starred_display
    visit_Set = _refuse_starred_display

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if isinstance(node.ctx, ast.Store | ast.Del) and isinstance(node.slice, ast.Slice):
            self._fail(node, "Slice assignment and deletion are not allowed")
        self.generic_visit(node)

    def visit_FormattedValue(self, node: ast.FormattedValue) -> None:
        spec = node.format_spec
        if spec is not None:
            if not isinstance(spec, ast.JoinedStr) or not all(
                isinstance(part, ast.Constant) for part in spec.values
            ):
                self._fail(node, "Computed format specifications in f-strings are not allowed")
            text = "".join(str(part.value) for part in spec.values)
            if any(len(digits) > 6 or int(digits) > MAX_FORMAT_WIDTH for digits in _DIGITS(text)):
                self._fail(node, f"f-string widths above {MAX_FORMAT_WIDTH} are not allowed")
        self.visit(node.value)


_DIGITS = re.compile(r"\d+").findall

# ---------------------------------------------------------------------------
# RestrictedPython policy: size guards for operators and f-strings
# ---------------------------------------------------------------------------

_BINOP_GUARDS: dict[type[ast.operator], str] = {
    ast.Add: "_guarded_add_",
    ast.Mult: "_guarded_mul_",
    ast.Pow: "_guarded_pow_",
    ast.LShift: "_guarded_lshift_",
    ast.Mod: "_guarded_mod_",
}


class _GuardingTransformer(RestrictingNodeTransformer):
    """RestrictedPython's policy, plus calls to size guards for allocation-heavy operators."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        node = self.node_contents_visit(node)
        guard = _BINOP_GUARDS.get(type(node.op))
        if guard is None:
            return node
        call = ast.Call(func=ast.Name(guard, ast.Load()), args=[node.left, node.right], keywords=[])
        copy_locations(call, node)
        return call

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.AST:
        node = self.node_contents_visit(node)
        call = ast.Call(func=ast.Name("_guarded_fstring_", ast.Load()), args=[node], keywords=[])
        copy_locations(call, node)
        return call

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
        # The format spec is a constant-only JoinedStr (checked above) and must stay one.
        value = self.visit(node.value)
        node.value = ast.Call(
            func=ast.Name("_guarded_format_value_", ast.Load()), args=[value], keywords=[]
        )
        copy_locations(node.value, value)
        return node


@functools.lru_cache(maxsize=1024)
def _compile(source: str, mode: str) -> types.CodeType:
    """Check and compile; cached because the same diagram code runs again and again."""
    if len(source) > MAX_SOURCE_LENGTH:
        raise _Violation(f"The code is too long (more than {MAX_SOURCE_LENGTH:,} characters)")
    if mode == "eval":
        # eval() ignores surrounding blanks, and XML editors like to add them.
        source = source.strip()
    try:
        tree = ast.parse(source, filename=_SCRIPT_FILENAME, mode=mode)
    except SyntaxError as err:
        raise _Violation(f"Syntax error: {err.msg}", err.lineno) from None
    except (ValueError, RecursionError, MemoryError) as err:
        raise _Violation(f"The code cannot be parsed: {err}") from None
    try:
        _PolicyChecker().visit(tree)
        compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
        result = compiler(tree, filename=_SCRIPT_FILENAME, policy=_GuardingTransformer)
    except RecursionError:
        raise _Violation("The code is nested too deeply") from None
    if result.errors or result.code is None:
        raise _Violation("; ".join(result.errors) or "The code could not be compiled")
    return result.code


def _compile_or_refuse(source: str, mode: str) -> types.CodeType:
    if not isinstance(source, str):
        raise ScriptRefused("The code must be text")
    try:
        return _compile(source, mode)
    except _Violation as violation:
        raise ScriptRefused(
            violation.describe(source),
            line_number=violation.line,
            error_line=_source_line(source, violation.line),
        ) from None


def check_code(source: str, mode: str) -> str | None:
    """None if `source` compiles under the sandbox rules, else a plain English reason.

    `mode` is ``'eval'`` for conditions and timer expressions, ``'exec'`` for scripts.
    """
    if mode not in ("eval", "exec"):
        raise ValueError(f"mode must be 'eval' or 'exec', not {mode!r}")
    if not isinstance(source, str):
        # A programming error (e.g. passing SpiffWorkflow's condition object instead of
        # its text), not a designer error: fail loudly rather than report bogus problems.
        raise TypeError(f"source must be str, not {type(source).__name__}")
    try:
        _compile(source, mode)
    except _Violation as violation:
        return violation.describe(source)
    return None


def _source_line(source: str, line: int | None) -> str | None:
    lines = source.splitlines()
    if line and 0 < line <= len(lines):
        return lines[line - 1]
    return None


# ---------------------------------------------------------------------------
# Runtime guards (called by the compiled code)
# ---------------------------------------------------------------------------


def _check_length(length: int) -> None:
    if length > MAX_SEQUENCE_LENGTH:
        _abort(f"The result would be too large (more than {MAX_SEQUENCE_LENGTH:,} items)")


def _check_bits(bits: int) -> None:
    if bits > MAX_INT_BITS:
        _abort(f"The number would be too large (more than {MAX_INT_BITS:,} bits)")


def _check_add(left: Any, right: Any) -> None:
    if isinstance(left, _SEQUENCE_TYPES) and isinstance(right, _SEQUENCE_TYPES):
        _check_length(len(left) + len(right))


def _check_mul(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int):
        _check_bits(left.bit_length() + right.bit_length())
    elif isinstance(left, _SEQUENCE_TYPES) and isinstance(right, int):
        _check_length(len(left) * max(right, 0))
    elif isinstance(right, _SEQUENCE_TYPES) and isinstance(left, int):
        _check_length(len(right) * max(left, 0))


def _check_pow(base: Any, exponent: Any) -> None:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        _check_bits(base.bit_length() * exponent)


def _check_lshift(value: Any, shift: Any) -> None:
    if isinstance(value, int) and isinstance(shift, int) and shift > 0 and value:
        _check_bits(value.bit_length() + shift)


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _check_mod(left: Any, right: Any) -> None:
    if isinstance(left, bytes | bytearray):
        left = bytes(left).decode("latin-1")
    if not isinstance(left, str):
        return
    _check_text_size(right)
    for width, precision in _PERCENT_SPEC.findall(left):
        for number in (width, precision):
            if number == "*":
                _abort("'*' widths in %-formatting are not allowed")
            if number and (len(number) > 6 or int(number) > MAX_FORMAT_WIDTH):
                _abort(f"%-format widths above {MAX_FORMAT_WIDTH} are not allowed")


def _guarded(check: Callable[[Any, Any], None], op: Callable[[Any, Any], Any]) -> Callable:
    def guarded(left: Any, right: Any) -> Any:
        check(left, right)
        return op(left, right)

    return guarded


def _check_text_size(value: Any) -> None:
    """Abort if the text of a container (``str(value)``) would be huge.

    ``str([s] * 10**6)`` with a long ``s`` asks for terabytes in one C call; the estimate
    walks the structure (shared items count every time, as they print every time).
    """
    if not isinstance(value, list | tuple | dict | set | frozenset):
        return
    budget = MAX_SEQUENCE_LENGTH
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str | bytes):
            budget -= len(item) + 4
        elif isinstance(item, int):
            budget -= item.bit_length() // 3 + 2
        elif isinstance(item, dict):
            budget -= 2 * len(item) + 2
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            budget -= 2
            stack.extend(item)
        else:
            budget -= 32
        if budget < 0:
            _abort(f"The text would be too large (more than {MAX_SEQUENCE_LENGTH:,} characters)")


class _StrMeta(type):
    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, builtins.str)

    def __subclasscheck__(cls, subclass: type) -> bool:
        return issubclass(subclass, builtins.str)


class _SandboxStr(builtins.str, metaclass=_StrMeta):
    """The sandbox's ``str``: ``str(x)`` is size-checked and returns a plain str.

    It stays a type, so ``isinstance(x, str)`` and ``str.maketrans`` work as usual.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> builtins.str:  # type: ignore[misc]
        if args:
            _check_text_size(args[0])
        return builtins.str(*args, **kwargs)


def _guarded_format_value(value: Any) -> Any:
    """Every ``{value}`` in an f-string: the same size check as ``str(value)``."""
    _check_text_size(value)
    return value


def _guarded_fstring(value: str) -> str:
    _check_length(len(value))
    return value


_INPLACE_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "+=": operator.iadd,
    "-=": operator.isub,
    "*=": operator.imul,
    "/=": operator.itruediv,
    "//=": operator.ifloordiv,
    "%=": operator.imod,
    "**=": operator.ipow,
    "<<=": operator.ilshift,
    ">>=": operator.irshift,
    "|=": operator.ior,
    "^=": operator.ixor,
    "&=": operator.iand,
    "@=": operator.imatmul,
}
_INPLACE_CHECKS: dict[str, Callable[[Any, Any], None]] = {
    "+=": _check_add,
    "*=": _check_mul,
    "**=": _check_pow,
    "<<=": _check_lshift,
    "%=": _check_mod,
}


def _guarded_inplacevar(op: str, target: Any, value: Any) -> Any:
    """``a += b`` arrives here as ``a = _inplacevar_('+=', a, b)``."""
    check = _INPLACE_CHECKS.get(op)
    if check is not None:
        check(target, value)
    return _INPLACE_OPERATORS[op](target, value)


def _bounded_range(*args: int) -> range:
    """``range`` capped so that ``for i in range(10**12)`` or ``list(range(...))`` cannot start."""
    result = range(*args)
    try:
        length = len(result)
    except OverflowError:
        length = MAX_RANGE_LENGTH + 1
    if length > MAX_RANGE_LENGTH:
        _abort(f"range() is limited to {MAX_RANGE_LENGTH:,} items")
    return result


def _eager(lazy: Callable[..., Any]) -> Callable[..., list]:
    """Return lists, not lazy iterators: a chain of 100,000 nested ``map`` objects
    overflows the C stack when consumed, which crashes the whole process."""

    def eager(*args: Any, **kwargs: Any) -> list:
        return list(lazy(*args, **kwargs))

    eager.__name__ = lazy.__name__
    return eager


def _numeric_sum(iterable: Any, /, start: Any = 0) -> Any:
    """``sum`` for numbers only: summing lists or strings is a quadratic allocation bomb."""
    if isinstance(start, _SEQUENCE_TYPES):
        _abort("sum() only adds numbers; use + or ''.join() for text and lists")
    return sum(iterable, start)


def _first_argument(args: tuple, kwargs: dict, name: str, default: Any = None) -> Any:
    return args[0] if args else kwargs.get(name, default)


def _check_padding(obj: Any, args: tuple, kwargs: dict) -> None:
    width = _first_argument(args, kwargs, "width", 0)
    if isinstance(width, int):
        _check_length(width)


def _check_expandtabs(obj: Any, args: tuple, kwargs: dict) -> None:
    tabsize = _first_argument(args, kwargs, "tabsize", 8)
    if isinstance(tabsize, int):
        _check_length(len(obj) * max(tabsize, 1))


def _check_replace(obj: Any, args: tuple, kwargs: dict) -> None:
    if len(args) < 2:
        return
    old, new = args[0], args[1]
    if not isinstance(old, str | bytes) or not isinstance(new, str | bytes):
        return
    occurrences = obj.count(old) if old else len(obj) + 1
    count = args[2] if len(args) > 2 else kwargs.get("count", -1)
    if isinstance(count, int) and count >= 0:
        occurrences = min(occurrences, count)
    _check_length(len(obj) + occurrences * max(len(new) - len(old), 0))


def _check_translate(obj: Any, args: tuple, kwargs: dict) -> None:
    table = _first_argument(args, kwargs, "table")
    if isinstance(table, dict):
        longest = max((len(v) for v in table.values() if isinstance(v, str)), default=1)
        _check_length(len(obj) * max(longest, 1))


def _check_to_bytes(obj: Any, args: tuple, kwargs: dict) -> None:
    length = _first_argument(args, kwargs, "length", 1)
    if isinstance(length, int):
        _check_length(length)


def _wrap_join(obj: Any, method: Callable) -> Callable:
    def join(parts: Any) -> Any:
        parts = list(parts)
        size = sum(len(part) for part in parts if isinstance(part, str | bytes))
        _check_length(size + len(obj) * max(len(parts) - 1, 0))
        return method(parts)

    return join


def _wrap_extend(obj: Any, method: Callable) -> Callable:
    def extend(items: Any) -> None:
        items = (
            items if isinstance(items, (*_SEQUENCE_TYPES, dict, set, frozenset)) else list(items)
        )
        _check_length(len(obj) + len(items))
        method(items)

    return extend


_SIZE_CHECKED_METHODS: dict[str, tuple[tuple[type, ...], Callable[..., None]]] = {
    "ljust": ((str, bytes), _check_padding),
    "rjust": ((str, bytes), _check_padding),
    "center": ((str, bytes), _check_padding),
    "zfill": ((str, bytes), _check_padding),
    "expandtabs": ((str, bytes), _check_expandtabs),
    "replace": ((str, bytes), _check_replace),
    "translate": ((str,), _check_translate),
    "to_bytes": ((int,), _check_to_bytes),
}
_WRAPPED_METHODS: dict[str, tuple[tuple[type, ...], Callable[[Any, Callable], Callable]]] = {
    "join": ((str, bytes), _wrap_join),
    "extend": ((list,), _wrap_extend),
}


def _guarded_getattr(obj: Any, name: str) -> Any:
    """``obj.name`` in sandboxed code: no private names, no frames, size-checked methods."""
    if not isinstance(name, str):
        raise TypeError("attribute name must be a string")
    if name.startswith("_"):
        _abort(f"Names starting with '_' are not allowed: {name}")
    if name in BLOCKED_ATTRIBUTES or _INTERNAL_ATTRIBUTE.match(name):
        _abort(f"Access to the attribute '{name}' is not allowed")
    if isinstance(obj, _INTERNAL_TYPES):
        _abort(f"Access to attributes of {type(obj).__name__} objects is not allowed")
    if name in _SIZE_CHECKED_METHODS or name in _WRAPPED_METHODS:
        if isinstance(obj, type):
            _abort(f"Call '{name}' on a value, not on the type")
        value = getattr(obj, name)
        if name in _WRAPPED_METHODS:
            kinds, wrap = _WRAPPED_METHODS[name]
            return wrap(obj, value) if isinstance(obj, kinds) else value
        kinds, check = _SIZE_CHECKED_METHODS[name]
        if not isinstance(obj, kinds):
            return value

        def checked(*args: Any, **kwargs: Any) -> Any:
            check(obj, args, kwargs)
            return value(*args, **kwargs)

        return checked
    return getattr(obj, name)


def _guarded_getitem(obj: Any, key: Any) -> Any:
    return obj[key]


def _guarded_write(obj: Any) -> Any:
    """Item assignment (``d['k'] = v``) is allowed on plain dicts and lists only."""
    if type(obj) in (dict, list):
        return obj
    _abort(f"Scripts may only modify dicts and lists, not {type(obj).__name__} objects")


def _guarded_apply(function: Callable, *args: Any, **kwargs: Any) -> Any:
    return function(*args, **kwargs)


class _DiscardedPrint:
    """``print()`` in a designer script goes nowhere: there is no console to write to."""

    def __init__(self, getattr_: Any = None) -> None:
        pass

    def _call_print(self, *objects: Any, **kwargs: Any) -> None:
        return None

    def __call__(self) -> str:
        return ""


_ALLOWED_BUILTIN_NAMES = (
    "abs",
    "all",
    "any",
    "bool",
    "chr",
    "dict",
    "divmod",
    "float",
    "frozenset",
    "int",
    "isinstance",
    "len",
    "list",
    "max",
    "min",
    "ord",
    "round",
    "set",
    "sorted",
    "tuple",
    # Exception classes, so scripts can 'raise ValueError(...)' and 'except KeyError:'.
    "ArithmeticError",
    "AttributeError",
    "Exception",
    "IndexError",
    "KeyError",
    "LookupError",
    "TypeError",
    "ValueError",
    "ZeroDivisionError",
)


def _make_builtins() -> dict[str, Any]:
    namespace: dict[str, Any] = {name: getattr(builtins, name) for name in _ALLOWED_BUILTIN_NAMES}
    namespace.update(
        {
            "True": True,
            "False": False,
            "None": None,
            "range": _bounded_range,
            "enumerate": _eager(enumerate),
            "filter": _eager(filter),
            "map": _eager(map),
            "reversed": _eager(reversed),
            "zip": _eager(zip),
            "sum": _numeric_sum,
            "str": _SandboxStr,
            # RestrictedPython hooks
            "_getattr_": _guarded_getattr,
            "_getitem_": _guarded_getitem,
            "_getiter_": iter,
            "_write_": _guarded_write,
            "_inplacevar_": _guarded_inplacevar,
            "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
            "_unpack_sequence_": guarded_unpack_sequence,
            "_apply_": _guarded_apply,
            "_print_": _DiscardedPrint,
            "_print": _DiscardedPrint(),  # eval mode uses print without the collector setup
            # size guards inserted by _GuardingTransformer
            "_guarded_add_": _guarded(_check_add, operator.add),
            "_guarded_mul_": _guarded(_check_mul, operator.mul),
            "_guarded_pow_": _guarded(_check_pow, operator.pow),
            "_guarded_lshift_": _guarded(_check_lshift, operator.lshift),
            "_guarded_mod_": _guarded(_check_mod, operator.mod),
            "_guarded_fstring_": _guarded_fstring,
            "_guarded_format_value_": _guarded_format_value,
        }
    )
    return namespace


_BUILTINS: Mapping[str, Any] = types.MappingProxyType(_make_builtins())


# ---------------------------------------------------------------------------
# Time budget
# ---------------------------------------------------------------------------


class _Budget:
    """A ``sys.settrace`` hook that aborts after a deadline, an event count or a call depth.

    Tracing is per thread and needs no signals, so it works in web workers and the
    scheduler alike. Raising from a trace hook also uninstalls it, which is fine: the
    abort is a BaseException that sandboxed code cannot catch.

    The call depth matters as much as the clock: if deep recursion ever raised
    RecursionError *inside* this hook, CPython would silently uninstall it, and code
    that caught the RecursionError would then run untimed. Sandboxed recursion is
    therefore stopped well before the interpreter's own limit.
    """

    __slots__ = ("deadline", "depth", "events", "max_depth", "max_events", "time_limit")

    def __init__(self, time_limit: float, max_events: int) -> None:
        self.time_limit = time_limit
        self.max_events = max_events
        self.events = 0
        self.depth = 0
        headroom = sys.getrecursionlimit() - _stack_depth() - _RECURSION_MARGIN
        self.max_depth = max(min(MAX_CALL_DEPTH, headroom // 3), 1)
        self.deadline = time.monotonic() + time_limit

    def trace(self, frame: types.FrameType, event: str, arg: Any) -> Callable | None:
        if event == "call":
            self.depth += 1
            if self.depth > self.max_depth:
                raise _ScriptAbort(
                    f"Script exceeded the maximum call depth of {self.max_depth} "
                    "(endless recursion?)"
                )
            if frame.f_code.co_filename == _SCRIPT_FILENAME:
                # CPython 3.11 emits no line event for a one-line loop ('while True: pass'),
                # so sandboxed frames are traced per bytecode instruction.
                frame.f_trace_opcodes = True
        elif event == "return":
            self.depth -= 1
        self.events += 1
        if self.events > self.max_events:
            raise _ScriptAbort(f"Script exceeded the limit of {self.max_events:,} execution steps")
        if time.monotonic() > self.deadline:
            raise _ScriptAbort(f"Script exceeded the {self.time_limit} s time limit")
        return self.trace


def _stack_depth() -> int:
    depth = 0
    frame: types.FrameType | None = sys._getframe()
    while frame is not None:
        depth += 1
        frame = frame.f_back
    return depth


def _abort_line(exc: BaseException) -> int | None:
    """Line of the sandboxed code that was running when `exc` was raised."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == _SCRIPT_FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _is_code_like(value: Any) -> bool:
    return callable(value) or isinstance(value, _CODE_LIKE_TYPES)


def _find_code_like(value: Any, limit: int = 200_000) -> Any:
    """First function/iterator/module nested in `value` (bounded walk), or None."""
    stack = [value]
    seen: set[int] = set()
    while stack and limit > 0:
        limit -= 1
        item = stack.pop()
        if _is_code_like(item):
            return item
        if isinstance(item, dict | list | tuple | set | frozenset) and id(item) not in seen:
            seen.add(id(item))
            if isinstance(item, dict):
                stack.extend(item.keys())
                stack.extend(item.values())
            else:
                stack.extend(item)
    return None


# ---------------------------------------------------------------------------
# Environment and engine
# ---------------------------------------------------------------------------


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    """Drop-in for SpiffWorkflow's TaskDataEnvironment that runs code in the sandbox.

    SpiffWorkflow calls ``script_engine.environment.evaluate`` directly in a few places
    (process completion and message correlation), so the sandbox must live here and not
    only in the engine. Errors raised here carry no task; the engine attaches it.
    """

    def __init__(
        self,
        time_limit: float = DEFAULT_TIME_LIMIT,
        helpers: Mapping[str, Callable[..., Any]] | None = None,
        max_events: int = DEFAULT_MAX_EVENTS,
    ) -> None:
        helpers = dict(helpers or {})
        for name, helper in helpers.items():
            if not name.isidentifier() or name.startswith("_") or name in FORBIDDEN_NAMES:
                raise ValueError(f"invalid helper name: {name!r}")
            if not callable(helper):
                raise TypeError(f"helper {name!r} is not callable")
        if time_limit <= 0:
            raise ValueError("time_limit must be positive")
        super().__init__(environment_globals=helpers)
        self.time_limit = float(time_limit)
        self.max_events = int(max_events)

    @property
    def helpers(self) -> dict[str, Callable[..., Any]]:
        return dict(self.globals)

    def evaluate(self, expression: str, context: dict, external_context: dict | None = None) -> Any:
        code = _compile_or_refuse(expression, "eval")
        namespace = self._namespace(context, external_context or {})
        result = self._run(code, namespace, expression)
        if _find_code_like(result) is not None:
            raise ScriptRefused("An expression must produce data, not a function or iterator")
        return result

    def execute(self, script: str, context: dict, external_context: dict | None = None) -> bool:
        external_context = external_context or {}
        code = _compile_or_refuse(script, "exec")
        self._check_for_overwrite(context, external_context)
        namespace = self._namespace(context, external_context)
        self._run(code, namespace, script)
        self._write_back(namespace, context, external_context)
        return True

    def call_service(self, context: dict, **kwargs: Any) -> NoReturn:
        raise ScriptRefused("Service tasks are not supported: scripts may not call services")

    def _namespace(self, context: Mapping, external_context: Mapping) -> dict[str, Any]:
        """Globals for one run: helpers, then external context, then task data.

        Keys starting with '_' are left out (sandboxed code cannot name them anyway) so
        that data can never shadow RestrictedPython's guard hooks.
        """
        namespace: dict[str, Any] = dict(self.globals)
        for source in (external_context, context):
            namespace.update(
                (key, value)
                for key, value in source.items()
                if isinstance(key, str) and not key.startswith("_")
            )
        namespace["__builtins__"] = dict(_BUILTINS)
        return namespace

    def _run(self, code: types.CodeType, namespace: dict[str, Any], source: str) -> Any:
        budget = _Budget(self.time_limit, self.max_events)
        previous = sys.gettrace()
        sys.settrace(budget.trace)
        try:
            try:
                return eval(code, namespace)  # a RestrictedPython code object, see module doc
            finally:
                # Stop tracing before handling: the budget is spent, so any traced call
                # in the handler would abort again and escape as a raw _ScriptAbort.
                sys.settrace(previous)
        except _ScriptAbort as abort:
            line = _abort_line(abort)
            raise ScriptRefused(
                abort.message, line_number=line, error_line=_source_line(source, line)
            ) from None

    def _check_for_overwrite(self, context: Mapping, external_context: Mapping) -> None:
        """Same fail-fast rule as SpiffWorkflow: task data may not hide a helper."""
        clashes = set(self.globals).intersection(context)
        clashes.update(set(external_context).intersection(context))
        if clashes:
            names = ", ".join(sorted(map(str, clashes)))
            raise ScriptRefused(
                "Task data overwrites predefined function(s); rename these fields: " + names
            )

    def _write_back(
        self, namespace: dict[str, Any], context: dict, external_context: Mapping
    ) -> None:
        """Copy the script's variables into task data, like TaskDataEnvironment does.

        Helpers, external context, builtins and functions are left out; a function or
        iterator nested inside data is refused because it could never be serialized.
        """
        reserved = set(self.globals) | set(external_context)
        updates: dict[str, Any] = {}
        for key, value in namespace.items():
            if not isinstance(key, str) or key.startswith("_") or key in reserved:
                continue
            if callable(value) or isinstance(value, types.ModuleType):
                continue
            if _find_code_like(value) is not None:
                raise ScriptRefused(
                    f"Variable '{key}' holds a function or iterator, which cannot be stored in "
                    "task data (convert iterators with list(...))"
                )
            updates[key] = value
        for key in list(context):
            if isinstance(key, str) and not key.startswith("_") and key not in updates:
                del context[key]
        context.update(updates)


class RestrictedScriptEngine(PythonScriptEngine):
    """SpiffWorkflow script engine that runs all designer code in the sandbox.

    ``time_limit`` bounds each expression/script in seconds; ``helpers`` are extra
    functions visible to code (e.g. working-day date helpers) but never stored in data.
    """

    def __init__(
        self,
        time_limit: float = DEFAULT_TIME_LIMIT,
        helpers: Mapping[str, Callable[..., Any]] | None = None,
        max_events: int = DEFAULT_MAX_EVENTS,
    ) -> None:
        super().__init__(
            environment=RestrictedEnvironment(
                time_limit=time_limit, helpers=helpers, max_events=max_events
            )
        )

    environment: RestrictedEnvironment

    @property
    def time_limit(self) -> float:
        return self.environment.time_limit

    @property
    def helpers(self) -> dict[str, Callable[..., Any]]:
        return self.environment.helpers

    def validate(self, expression: str) -> None:
        """Raise SyntaxError like the base class (DMN relies on it), then apply the rules."""
        ast.parse(expression)
        message = check_code(expression, "exec")
        if message is not None:
            raise ScriptRefused(message)

    def evaluate(self, task: Any, expression: str, external_context: dict | None = None) -> Any:
        try:
            return self.environment.evaluate(expression, task.data, external_context)
        except ScriptRefused as err:
            note = f"Error evaluating expression '{expression}'"
            raise self._attach_task(err, task, note) from None
        except SpiffWorkflowException as err:
            err.add_note(f"Error evaluating expression '{expression}'")
            raise
        except Exception as err:
            raise WorkflowTaskException(
                f"Error evaluating expression '{expression}': {type(err).__name__}: {err}",
                task=task,
                exception=err,
            ) from err

    def execute(self, task: Any, script: str, external_context: dict | None = None) -> bool:
        try:
            return self.environment.execute(script, task.data, external_context or {})
        except ScriptRefused as err:
            raise self._attach_task(err, task, None) from None
        except Exception as err:
            raise self.create_task_exec_exception(task, script, err) from err

    def call_service(self, task: Any, **kwargs: Any) -> NoReturn:
        raise ScriptRefused(
            "Service tasks are not supported: scripts may not call services", task=task
        )

    def create_task_exec_exception(
        self, task: Any, script: str, err: Exception
    ) -> WorkflowTaskException:
        """As the base class, but robust to exceptions whose first argument is not text."""
        if isinstance(err, SpiffWorkflowException):
            return super().create_task_exec_exception(task, script, err)
        line_number, error_line = self.get_error_line_number_and_content(script, err)
        detail = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        return WorkflowTaskException(
            detail, task=task, exception=err, line_number=line_number, error_line=error_line
        )

    @staticmethod
    def _attach_task(err: ScriptRefused, task: Any, note: str | None) -> ScriptRefused:
        refused = err
        if err.task is None:
            refused = ScriptRefused(
                err.message, task=task, line_number=err.line_number, error_line=err.error_line
            )
        if note:
            refused.add_note(note)
        return refused
