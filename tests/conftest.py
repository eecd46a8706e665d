"""Shared pytest fixtures: the regression seed (printed, overridable) and the build cache."""

import os
import random

import pytest

# The suite's simulations are short: compiling the model dominates them, so build without C++
# optimization (a user's runs and the benchmarks keep Verilator's -Os). See accelgen.sim.runner.
os.environ.setdefault("ACCELGEN_SIM_CXX_OPT", "-O0")


def pytest_addoption(parser):
    parser.addoption("--seed", type=int, default=None, help="seed for random stimulus (default: random, printed)")


@pytest.fixture(scope="session")
def base_seed(request) -> int:
    seed = request.config.getoption("--seed")
    if seed is None:
        seed = int(os.environ.get("ACCELGEN_SEED", random.SystemRandom().randrange(1 << 31)))
    return seed


@pytest.fixture
def seed(base_seed, request) -> int:
    """Per-test seed derived from the session seed and the test id; printed on failure."""
    value = random.Random(f"{base_seed}:{request.node.nodeid}").randrange(1 << 31)
    print(f"seed={value} (session --seed={base_seed}, test {request.node.nodeid})")
    return value


def pytest_report_header(config):
    seed = config.getoption("--seed")
    return f"accelgen: stimulus seed {'random per session (printed per test)' if seed is None else seed}"
