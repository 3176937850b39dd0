"""Further parts of the benchmark, one module each, run by benchmarks/run.py after its own.

A module here (any name not starting with "_") defines

    def run(args: argparse.Namespace) -> dict      # the part's numbers (into results.json)
    def markdown(result: dict) -> str               # its section of RESULTS.md

and may define `add_arguments(parser)` for options of its own. `args` carries run.py's options
and `args.bench_root` (the run's temporary directory), `args.bench_batch` (the generated batch
file) and `args.bench_results` (everything measured so far). A result may hold `readme_rows`,
a list of (measure, result) pairs for the README's benchmark table. run.py's helpers
(gateway_env, intake, cli_submit, Postgres ...) are importable as `from run import ...`.
"""
