"""The policy bridge: candidate source -> compiled policy, or a precise reason why not."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from adrs.bridge import POLICY_RAISED, compile_policy, load_program

C_POLICY = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.POINTER(ctypes.c_double), ctypes.c_int64,
                            ctypes.POINTER(ctypes.c_double), ctypes.c_int64)


def call_address(address: int, obs: np.ndarray, mem: np.ndarray) -> int:
    """The action, decoded as the C++ loop does (the C entry returns action + 1, 0 if raised)."""
    function = C_POLICY(address)
    as_pointer = ctypes.POINTER(ctypes.c_double)
    raw = function(obs.ctypes.data_as(as_pointer), obs.size, mem.ctypes.data_as(as_pointer),
                   mem.size)
    return POLICY_RAISED if raw == 0 else raw - 1


HELPERS = '''
import math

THRESHOLD = 0.5

def scaled(x):
    return math.floor(x * 2.0)

def decide(obs, mem):
    mem[0] += 1.0
    return 1 if scaled(obs[0]) > THRESHOLD else 2
'''


def test_compiled_policy_runs_through_the_c_address_and_numba_and_python():
    policy = compile_policy(HELPERS)
    assert policy.compiled and policy.compile_error is None
    obs, mem = np.array([1.0, 0.0]), np.zeros(4)
    assert call_address(policy.address, obs, mem) == 1
    assert mem[0] == 1.0  # the policy's writes to mem persist
    obs[0] = 0.1
    assert call_address(policy.address, obs, mem) == 2
    assert policy.interpreted(obs, mem) == 2
    assert mem[0] == 3.0


def test_exceptions_inside_the_compiled_policy_become_the_raised_action(capfd):
    policy = compile_policy(
        "def decide(obs, mem):\n    if obs[0] < 1.0:\n        raise ValueError('no')\n    return 1\n")
    assert call_address(policy.address, np.zeros(2), np.zeros(2)) == POLICY_RAISED
    assert call_address(policy.address, np.ones(2), np.zeros(2)) == 1
    out_of_bounds = compile_policy("def decide(obs, mem):\n    return int(obs[10])\n")
    assert call_address(out_of_bounds.address, np.zeros(2), np.zeros(2)) == POLICY_RAISED
    assert capfd.readouterr().err == ""  # nothing printed per failing tick


@pytest.mark.parametrize("body, kind", [
    ("return 1.7", "float64"),
    ("return obs[0] > 0", "bool"),
    ("return 1 if obs[0] > 0 else 0.5", "float64"),
    ("raise ValueError('always')", "none"),
])
def test_a_policy_that_does_not_return_an_integer_is_rejected(body, kind):
    with pytest.raises(ValueError) as error:
        compile_policy(f"def decide(obs, mem):\n    {body}\n")
    assert str(error.value) == (f"decide() returns {kind}, not an integer action "
                                "(return 0 NONE, 1 SPOT or 2 ON_DEMAND as an int)")


def test_a_policy_numba_cannot_compile_runs_interpreted_with_the_reason():
    source = ("class Box:\n    size = 2\n\n"
              "def decide(obs, mem):\n    return Box().size\n")
    policy = compile_policy(source)
    assert not policy.compiled
    assert policy.compile_error.startswith("Numba could not compile the policy (TypingError)")
    assert policy.interpreted(np.zeros(2), np.zeros(2)) == 2
    with pytest.raises(ValueError, match="the policy did not compile"):
        policy.numba_function()


@pytest.mark.parametrize("source, message", [
    ("def decide(obs, mem)\n    return 1\n",
     "syntax error in <candidate> at line 1: expected ':'"),
    ("x = 1 / 0\ndef decide(obs, mem):\n    return 1\n",
     "<candidate> raised at import: ZeroDivisionError: division by zero (line 1)"),
    ("def choose(obs, mem):\n    return 1\n", "<candidate> defines no function 'decide'"),
    ("decide = 3\n", "<candidate> defines no function 'decide'"),
    ("def decide(obs):\n    return 1\n", "<candidate>: decide() must take two arguments (obs, mem)"),
])
def test_programs_that_do_not_load_say_why(source, message):
    with pytest.raises(ValueError) as error:
        load_program(source)
    assert str(error.value) == message
    with pytest.raises(ValueError) as error:
        compile_policy(source)
    assert str(error.value) == message
