"""The `digitcli` command line: a thin layer over the library.

Each command imports its heavy dependencies inside its body, so `--help` is instant.
"""

import sys

import click

from digitcli import __version__
from digitcli.errors import DigitcliError


class Group(click.Group):
    """Turns interruptions and OS errors into one line instead of a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(130)
        except OSError as exc:
            raise DigitcliError(f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")) from exc


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="digitcli")
def cli():
    """Train and use handwritten-digit classifiers over folders of images.

    \b
    Typical session:
      digitcli export              # MNIST -> data/train/0..9, data/validation/0..9
      digitcli train --epochs 4    # the CNN -> mnist_neuronet.h5
      digitcli predict 71.png      # class and confidence
      digitcli evaluate            # accuracy, confusion matrix, pictures in reports/
    """


@cli.command()
@click.option("--data-dir", default="data", show_default=True, type=click.Path(file_okay=False),
              help="Where to write DIR/train/<class>/ and DIR/validation/<class>/.")
@click.option("--dataset", default="mnist", show_default=True, type=click.Choice(["mnist", "fashion-mnist"]))
@click.option("--source", type=click.Path(), default=None,
              help="A Keras-style .npz or a folder of the four IDX files (.gz or not). "
                   "Default: Keras's download/cache (Fashion-MNIST: Debian's copy when installed).")
@click.option("--force", is_flag=True, help="Rewrite the export's own files even if they are in place.")
def export(data_dir, dataset, source, force):
    """Write a dataset as one PNG per image in class folders."""
    from data_tools.export import export_dataset
    from data_tools.sources import load_dataset

    data = load_dataset(dataset, source)
    total = sum(len(y) for _, _, y in data.splits())
    with click.progressbar(length=total, label=f"Writing {total} PNGs", file=sys.stderr) as bar:
        summary = export_dataset(data, data_dir, force=force, progress=bar.update)
    if summary.already_complete:
        click.echo(f"{data_dir} already holds the complete {dataset} export; nothing to do (--force rewrites it).")
        return
    click.echo(f"Wrote {summary.written} files under {data_dir}/ ({total - summary.written} already in place).")
    names = data.class_names
    width = max(len(n) for n in names + ["class"])
    click.echo(f"{'class':>{width}}  " + "  ".join(f"{split:>10}" for split in summary.counts))
    for name in names:
        click.echo(f"{name:>{width}}  " + "  ".join(f"{c.get(name, 0):>10}" for c in summary.counts.values()))
    click.echo(f"{'total':>{width}}  " + "  ".join(f"{sum(c.values()):>10}" for c in summary.counts.values()))


def main():
    cli(prog_name="digitcli")
