# Results: aggregation, tables, figures and the HTML report.
# `snakemake --report results/<profile>/report.html` (after the run) collects every
# output flagged with report(...) below, each with its caption in workflow/report/.
from subsetgrad.bench.results.specs import (
    ACROSS_TASKS,
    CRITICAL_DIFFERENCE_FIGURE,
    TASK_RESULTS,
    across_task_tables,
    table_names,
)


report: "../report/workflow.rst"


# Tasks with results: the enabled ones, in the order of the config.
RESULT_TASKS = [t for t in TASKS if t in TASK_RESULTS]
TEMPERATURE_TASKS = [t for t in RESULT_TASKS if TASK_RESULTS[t].temperature_metrics]
CURVE_TASKS = [t for t in RESULT_TASKS if TASK_RESULTS[t].curve_metrics]
# Tables across tasks (the estimator ranking) and the critical-difference diagram, where a
# compared task is enabled.
ACROSS_TASK_TABLES = across_task_tables(RESULT_TASKS)
RESULT_TABLES = [table for t in RESULT_TASKS for table in table_names(t)] + ACROSS_TASK_TABLES
RANKING_FIGURES = [f"{RESULTS}/figures/{CRITICAL_DIFFERENCE_FIGURE}.png"] if ACROSS_TASK_TABLES else []
REPORT_DIR = str(Path(workflow.basedir) / "workflow/report")

# Where a task's rules file declares nothing (see common.smk), read the outputs of its
# rules that hold all of its metrics (merged files) and its per-run training curves.
if task_enabled("l2x") and hasattr(rules, "l2x_summary"):
    METRICS_FILES.setdefault("l2x", [rules.l2x_summary.output.metrics])
    CURVE_FILES.setdefault("l2x", [str(Path(f).with_name("curve.csv")) for f in rules.l2x_summary.input.runs])
    # example explanations of the first seed's runs
    REPORT_FILES.setdefault(
        "l2x",
        [
            str(Path(f).with_name("examples.html"))
            for f in rules.l2x_summary.input.runs
            if Path(f).parent.name == f"seed{config['seeds'][0]}"
        ],
    )
if task_enabled("tsne") and hasattr(rules, "tsne_summary"):
    METRICS_FILES.setdefault("tsne", [rules.tsne_summary.output.metrics])
    CURVE_FILES.setdefault(
        "tsne", [str(Path(f).with_name("history.csv")) for f in rules.tsne_summary.input.runs]
    )
if task_enabled("knn") and hasattr(rules, "knn_summary"):
    METRICS_FILES.setdefault("knn", [rules.knn_summary.output.metrics])
    CURVE_FILES.setdefault("knn", list(rules.knn_summary.input.curves))
# the study's per-problem files, not its merged one: provenance.json lies beside each
if task_enabled("study") and hasattr(rules, "study_summary"):
    METRICS_FILES.setdefault("study", list(rules.study_summary.input.metrics))


rule results_aggregate:
    input:
        metrics=lambda wc: [f for t in RESULT_TASKS for f in task_result_files("metrics", t)],
    output:
        metrics=report(f"{RESULTS}/metrics.csv", caption="../report/metrics.rst", category="Data"),
        provenance=f"{RESULTS}/provenance.csv",
    log:
        f"{RESULTS}/logs/results_aggregate.log",
    benchmark:
        f"{RESULTS}/benchmarks/results_aggregate.tsv"
    conda:
        ENV
    threads: 1
    params:
        tasks=RESULT_TASKS,
    script:
        "../scripts/report_aggregate.py"


# Every table in one job, each with its own caption in the report, and the README
# section (every table, one figure per task). The inputs flagged with report() put the
# tasks' own figures (histogram, scatter plots, ...) and example pages into the report.
rule results_tables:
    input:
        metrics=rules.results_aggregate.output.metrics,
        task_figures=[
            report(
                f,
                caption=(
                    f"../report/figures_{task}.rst"
                    if Path(REPORT_DIR, f"figures_{task}.rst").exists()
                    else "../report/figures_task.rst"
                ),
                category=task,
                subcategory="figures",
            )
            for task in TASKS
            for f in task_result_files("figures", task)
        ],
        task_pages=[
            report(f, caption=f"../report/pages_{task}.rst", category=task, subcategory="examples")
            for task in TASKS
            for f in task_result_files("report", task)
        ],
    output:
        html=[
            report(
                f"{RESULTS}/tables/{table}.html",
                caption=f"../report/table_{table}.rst",
                category=task,
                subcategory="tables",
            )
            for task in RESULT_TASKS
            for table in table_names(task)
        ]
        + [
            report(
                f"{RESULTS}/tables/{table}.html",
                caption=f"../report/table_{table}.rst",
                category="comparison",
                subcategory="tables",
            )
            for table in ACROSS_TASK_TABLES
        ],
        md=[f"{RESULTS}/tables/{table}.md" for table in RESULT_TABLES],
        csv=[f"{RESULTS}/tables/{table}.csv" for table in RESULT_TABLES],
        tex=[f"{RESULTS}/tables/{table}.tex" for table in RESULT_TABLES],
        summary=f"{RESULTS}/results.md",
        headline=f"{RESULTS}/headline.md",
    log:
        f"{RESULTS}/logs/results_tables.log",
    benchmark:
        f"{RESULTS}/benchmarks/results_tables.tsv"
    conda:
        ENV
    threads: 1
    params:
        tables=RESULT_TABLES,
        figures={
            task: task_result_files("figures", task)
            + ([f"{RESULTS}/figures/{task}_vs_temperature.png"] if task in TEMPERATURE_TASKS else [])
            for task in TASKS
        }
        | ({ACROSS_TASKS: RANKING_FIGURES} if RANKING_FIGURES else {}),
    script:
        "../scripts/report_tables.py"


# Every generic figure in one job: metric vs temperature, and training curves.
rule results_figures:
    input:
        metrics=rules.results_aggregate.output.metrics,
        curves=[f for task in CURVE_TASKS for f in task_result_files("curves", task)],
    output:
        temperature=[
            report(
                f"{RESULTS}/figures/{task}_vs_temperature.png",
                caption="../report/figure_vs_temperature.rst",
                category=task,
                subcategory="figures",
            )
            for task in TEMPERATURE_TASKS
        ],
        temperature_pdf=[f"{RESULTS}/figures/{task}_vs_temperature.pdf" for task in TEMPERATURE_TASKS],
        curves=[
            report(
                f"{RESULTS}/figures/{task}_training_curves.png",
                caption="../report/figure_training_curves.rst",
                category=task,
                subcategory="figures",
            )
            for task in CURVE_TASKS
        ],
        curves_pdf=[f"{RESULTS}/figures/{task}_training_curves.pdf" for task in CURVE_TASKS],
        ranking=[
            report(
                f,
                caption="../report/figure_critical_difference.rst",
                category="comparison",
                subcategory="figures",
            )
            for f in RANKING_FIGURES
        ],
        ranking_pdf=[str(Path(f).with_suffix(".pdf")) for f in RANKING_FIGURES],
    log:
        f"{RESULTS}/logs/results_figures.log",
    benchmark:
        f"{RESULTS}/benchmarks/results_figures.tsv"
    conda:
        ENV
    threads: 1
    params:
        temperature_tasks=TEMPERATURE_TASKS,
        curve_tasks=CURVE_TASKS,
        curve_files={task: task_result_files("curves", task) for task in CURVE_TASKS},
    script:
        "../scripts/report_figures.py"


TARGETS += [rules.results_tables.output.summary]
if TEMPERATURE_TASKS or CURVE_TASKS or RANKING_FIGURES:
    TARGETS += [rules.results_figures.output]


# A profile's results as a document to commit (config key results_document: a folder,
# e.g. docs/results): every table with its published anchors, each job's wall time, the
# tidy metrics and the figures shrunk to a byte budget.
if config.get("results_document"):
    DOCUMENT = f"{config['results_document']}/{config['profile']}"

    rule results_document:
        input:
            metrics=rules.results_aggregate.output.metrics,
            tables=rules.results_tables.output.md,
            figures=(
                rules.results_figures.output.temperature
                + rules.results_figures.output.curves
                + rules.results_figures.output.ranking
                if (TEMPERATURE_TASKS or CURVE_TASKS or RANKING_FIGURES)
                else []
            ),
        output:
            markdown=f"{DOCUMENT}.md",
            csv=f"{DOCUMENT}.csv",
        log:
            f"{RESULTS}/logs/results_document.log",
        conda:
            ENV
        threads: 1
        params:
            tables=RESULT_TABLES,
            figures={
                task: task_result_files("figures", task)
                + ([f"{RESULTS}/figures/{task}_vs_temperature.png"] if task in TEMPERATURE_TASKS else [])
                + ([f"{RESULTS}/figures/{task}_training_curves.png"] if task in CURVE_TASKS else [])
                for task in TASKS
            }
            | ({ACROSS_TASKS: RANKING_FIGURES} if RANKING_FIGURES else {}),
            image_dir=lambda wc, output: str(Path(output.markdown).with_suffix("")),
            benchmark_dir=f"{RESULTS}/benchmarks",
            max_image_bytes=2**20,
        script:
            "../scripts/report_document.py"

    TARGETS += [rules.results_document.output]
