"""One grammar: the same flag for the same thing in every subcommand, every option documented, defaults in --help."""
import argparse

from llm_distill.cli import build_parser


def subcommands():
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def test_one_flag_per_meaning_across_subcommands():
    flags_of = {}   # destination -> {subcommand: canonical flag}
    for name, sub in subcommands().items():
        for action in sub._actions:
            if action.option_strings and action.dest != "help":
                flags_of.setdefault(action.dest, {})[name] = action.option_strings[0]
    for dest, by_command in flags_of.items():
        assert len(set(by_command.values())) == 1, f"{dest} is spelled {by_command}"
    assert set(flags_of["output"].values()) == {"--output"}          # --out stays as an alias


def test_every_option_is_documented_and_shows_its_default():
    for name, sub in subcommands().items():
        assert isinstance(sub.formatter_class, type) and issubclass(sub.formatter_class, argparse.ArgumentDefaultsHelpFormatter), name
        for action in sub._actions:
            if action.option_strings and action.dest not in ("help",):
                assert action.help, f"{name} {action.option_strings[0]} has no help"
    assert "(default: text)" in subcommands()["predict"].format_help()


def test_label_needs_a_backend(capsys):
    import pytest
    with pytest.raises(SystemExit):
        build_parser().parse_args(["label", "--dataset", "olid", "--model", "gpt-4o-mini"])
    assert "--backend" in capsys.readouterr().err
