"""One place for each default and for the execution contract: every probe command's option
defaults equal its library's (`run`'s keyword defaults and `probe.execution.DEFAULTS`), and
every probe's `run` lists only its own options plus `**execution: Unpack[Execution]`."""
from __future__ import annotations

import argparse
import inspect

import pytest

from probe import execution, models, registry
from probe.commands import build_parser, common
from probe.errors import ParameterError

# Command defaults that differ from the library's on purpose, with the reason.
EXCEPTIONS = {
    "device": "the command line picks CUDA, then MPS, then the CPU ('auto'); the library follows the model's "
              "own device (None), since a Python caller has placed the model already",
    "data": "the library takes the data as a required argument; the command line measures the embedded "
            "Fashion-MNIST sample unless --data names another",
}


def library_defaults(run) -> dict:
    """The defaults of `run`: its own keyword options, then the execution fields."""
    own = {name: p.default for name, p in inspect.signature(run).parameters.items()
           if p.kind is inspect.Parameter.KEYWORD_ONLY}
    return {**execution.DEFAULTS, **own}


def drift(parser: argparse.ArgumentParser, run) -> list[str]:
    """The options of `parser` whose default differs from the library's (a tuple equals a list of
    the same values, as an option of several values parses to a list)."""
    defaults = library_defaults(run)
    found = []
    for action in parser._actions:
        if action.dest not in defaults or action.dest in EXCEPTIONS:
            continue
        ours, theirs = action.default, defaults[action.dest]
        if isinstance(ours, (list, tuple)) and isinstance(theirs, (list, tuple)):
            ours, theirs = list(ours), list(theirs)
        if ours != theirs or type(ours) is not type(theirs):
            option = f"--{action.dest.replace('_', '-')}"
            found.append(f"{option}: command {action.default!r}, library {defaults[action.dest]!r}")
    return found


@pytest.mark.parametrize("name", list(registry.PROBES))
def test_command_defaults_are_the_library_defaults(name):
    parser = build_parser(name)
    assert drift(parser, registry.entry(name).load().run) == []
    options = {action.dest for action in parser._actions}
    assert set(EXCEPTIONS) <= options | {"data"}


def test_a_drifted_default_is_found():
    """The check can fail: a command default changed by hand is reported."""
    parser = build_parser("margins")
    for action in parser._actions:
        if action.dest == "max_iter":
            action.default = 99
        if action.dest == "seed":
            action.default = 1
    run = registry.entry("margins").load().run
    assert drift(parser, run) == ["--seed: command 1, library 0", "--max-iter: command 99, library 100"]


def test_an_option_without_default_takes_the_librarys():
    parser = common.Parser(prog="x")
    parser.add_argument("--radii", type=float, nargs="+")
    parser.add_argument("--max-iter", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--other")
    common.library_defaults(parser, registry.entry("masking").load().run)
    args = parser.parse_args([])
    assert args.radii == [0.25, 0.5, 1.0, 2.0] and args.max_iter == 50
    assert args.batch_size is None and args.other is None
    help_text = build_parser("masking").format_help()
    assert "(default 50)" in help_text   # --max-iter's help shows the library's default


def test_every_execution_field_has_a_default_and_a_description():
    fields = execution.fields()
    assert fields == ("n", "indices", "seed", "device", "batch_size", "out", "resume", "progress", "max_memory",
                      "shard")
    assert set(execution.DEFAULTS) == set(fields)
    source = inspect.getsource(execution.Execution)
    for field in fields:
        described = source.split(f"    {field}:", 1)[1].split('"""')[1]
        assert "default" in described, field


@pytest.mark.parametrize("name", list(registry.PROBES))
def test_run_lists_its_own_options_and_the_execution_contract(name):
    run = registry.entry(name).load().run
    parameters = inspect.signature(run).parameters
    shared = set(execution.fields()) & set(parameters)
    assert not shared, f"{name}.run re-declares {shared}"
    last = list(parameters.values())[-1]
    assert last.kind is inspect.Parameter.VAR_KEYWORD and last.annotation == "Unpack[Execution]"
    assert "probe.execution.Execution" in run.__doc__


def test_unknown_keywords_are_one_line_errors_naming_the_known_ones(sample_test):
    import probe.flatness
    import probe.margins
    lenet = models.build("lenet")   # refused before any work: untrained weights do
    with pytest.raises(ParameterError) as error:
        probe.margins.run(lenet, sample_test, n=2, max_iters=3)
    message = str(error.value)
    assert "\n" not in message and "'max_iters'" in message
    assert "max_iter" in message and "basis" in message and "seed" in message and "shard" in message
    with pytest.raises(ParameterError, match="'shard'.*known: radii"):   # one chunk: flatness takes no shard
        probe.flatness.run(lenet, sample_test, n=2, shard="0/2")
