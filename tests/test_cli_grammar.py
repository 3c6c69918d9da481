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
            if action.option_strings and action.dest != "help" and action.help != argparse.SUPPRESS:   # hidden: an old spelling, deprecated
                flags_of.setdefault(action.dest, {})[name] = action.option_strings[0]
    for dest, by_command in flags_of.items():
        assert len(set(by_command.values())) == 1, f"{dest} is spelled {by_command}"
    assert set(flags_of["output"].values()) == {"--output"}          # --out still works, with a deprecation warning


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


def test_limit_draws_the_same_stratified_sample_as_an_experiment(tmp_path):
    from llm_distill.cli import build_parser
    from llm_distill.commands import _corpus
    from llm_distill.data import load_dataset
    data = load_dataset("textclass-toxicity").data.sort_values("human_label")[["id", "text", "human_label"]]   # sorted by class
    data.to_csv(tmp_path / "sorted.csv", index=False)
    arguments = build_parser().parse_args(["validate", "--file", str(tmp_path / "sorted.csv"), "--codebook", "textclass-toxicity",
                                           "--id", "id", "--label", "human_label", "--limit", "40", "annotations.csv"])
    corpus = _corpus(arguments)
    assert len(corpus) == 40 and corpus.data["human_label"].value_counts().to_dict() == {"non-toxic": 20, "toxic": 20}
    assert corpus.ids == [str(i) for i in data["id"] if str(i) in set(corpus.ids)]   # in the file's order (ids as written: text)


def test_an_unknown_recipe_is_refused_before_training_starts(tmp_path, capsys):
    "`train --recipe tfid` said 'training on ...' and made no sense of it until later; now it is refused first, with the nearest recipe, and no folder is made."
    from llm_distill.cli import main
    (tmp_path / "d.csv").write_text("id,text,label\n" + "".join(f"{i},text {i},{'toxic' if i % 2 else 'non-toxic'}\n" for i in range(20)))
    assert main(["train", "--file", str(tmp_path / "d.csv"), "--label", "label", "--codebook", "textclass-toxicity",
                 "--recipe", "tfid", "--output", str(tmp_path / "student")]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'tfidf'?" in err and "training on" not in err, err
    assert not (tmp_path / "student").exists()


def test_output_piped_into_a_reader_that_leaves_ends_quietly(tmp_path):
    "helper-25: `llm-distill ... | head` printed a BrokenPipeError traceback after the work was done."
    import subprocess, sys
    process = subprocess.Popen([sys.executable, "-c", "import sys; from llm_distill.cli import main; sys.exit(main(['info']))"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    process.stdout.close()                      # the reader has gone before the first line is printed
    err = process.stderr.read().decode()
    assert process.wait(timeout=120) == 0 and "Traceback" not in err and "BrokenPipe" not in err, err
