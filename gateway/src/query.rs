//! `tributary query`: the server's engine and config, run once from the
//! command line.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, IsTerminal, Read};
use std::path::Path;

use anyhow::{Context, anyhow};
use clap::ValueEnum;
use datafusion::arrow::error::ArrowError;
use datafusion::common::DataFusionError;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{DFParser, Statement};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use futures::StreamExt;

use crate::Failure;
use crate::cli::{OutputFormat, QueryArgs};
use crate::engine::{self, Settings};
use crate::output::{ResultWriter, Sink};
use crate::progress::Progress;
use tributary_pgwire::parameters::{self, BoundQuery};

pub async fn run(settings: Settings, args: QueryArgs) -> Result<(), Failure> {
    engine::init_logging(&settings.log_filter("warn"));
    let sql = read_sql(&args)?;
    let format = choose_format(&args);
    let given: BTreeMap<String, serde_json::Value> = args
        .params
        .iter()
        .map(|(name, value)| (name.clone(), parameters::value_from_text(value)))
        .collect();
    let bound = parameters::bind(&sql, &given)
        .map_err(|e| Failure::Runtime(anyhow!("ERROR: {e} (SQLSTATE {})", e.sqlstate())))?;

    // The same bound as the server's: a deep statement must not reach the parser.
    let max_depth = settings.limits()?.max_statement_depth;
    tributary_pgwire::check_statement_depth(&bound.sql, max_depth)
        .map_err(|e| Failure::Runtime(anyhow!("ERROR: {e} (SQLSTATE {})", e.sqlstate())))?;
    let statements = DFParser::parse_sql_with_dialect(&bound.sql, &PostgreSqlDialect {})
        .map_err(|e| Failure::Runtime(sql_error(&e)))?;
    if statements.is_empty() {
        return Err(Failure::Usage("no SQL statement given".to_owned()));
    }
    let single_document = matches!(
        format,
        OutputFormat::Json | OutputFormat::Arrow | OutputFormat::Parquet
    );
    if single_document && statements.len() > 1 {
        return Err(Failure::Usage(format!(
            "--format {} writes one result: run one statement at a time",
            format
                .to_possible_value()
                .map(|v| v.get_name().to_owned())
                .unwrap_or_default()
        )));
    }

    if !bound.values.is_empty() && statements.len() > 1 {
        return Err(Failure::Usage(
            "parameters (@name) are for one statement at a time".to_owned(),
        ));
    }

    let (context, _sources) = engine::build(&settings).await?;
    let context = crate::limits::install(&context, &settings.limits()?, &settings.data_dir)?;
    for (index, statement) in statements.into_iter().enumerate() {
        let sink = open_sink(args.output.as_deref(), index > 0)?;
        match run_statement(&context, statement, &bound, format, sink).await {
            Ok(()) => {}
            Err(StatementError::BrokenPipe) => return Ok(()),
            Err(StatementError::Query(error)) => return Err(Failure::Runtime(sql_error(&error))),
            Err(StatementError::Output(error)) => {
                return Err(Failure::Runtime(
                    anyhow!(error).context("cannot write the result"),
                ));
            }
        }
    }
    Ok(())
}

enum StatementError {
    Query(DataFusionError),
    Output(ArrowError),
    BrokenPipe,
}

impl From<DataFusionError> for StatementError {
    fn from(error: DataFusionError) -> Self {
        Self::Query(error)
    }
}

impl From<ArrowError> for StatementError {
    fn from(error: ArrowError) -> Self {
        match &error {
            // `tributary query … | head` is not a failure.
            ArrowError::IoError(_, io) if io.kind() == std::io::ErrorKind::BrokenPipe => {
                Self::BrokenPipe
            }
            _ => Self::Output(error),
        }
    }
}

async fn run_statement(
    context: &SessionContext,
    statement: Statement,
    bound: &BoundQuery,
    format: OutputFormat,
    sink: Sink,
) -> Result<(), StatementError> {
    let mut progress = Progress::start();
    let plan = context.state().statement_to_plan(statement).await?;
    let frame = bound.bind(context.execute_logical_plan(plan).await?)?;
    let mut stream = frame.execute_stream().await?;
    let mut writer = ResultWriter::new(format, sink, stream.schema())?;
    let result = async {
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            progress.add_rows(batch.num_rows());
            writer.write(&batch)?;
        }
        Ok::<_, StatementError>(())
    }
    .await;
    progress.finish();
    result?;
    writer.finish()?;
    Ok(())
}

fn sql_error(error: &DataFusionError) -> anyhow::Error {
    let classified = tributary_pgwire::classify(error);
    let mut text = format!(
        "ERROR: {} (SQLSTATE {})",
        classified.message, classified.code
    );
    if let Some(hint) = classified.hint {
        text.push_str(&format!("\nHINT: {hint}"));
    }
    anyhow!(text)
}

fn read_sql(args: &QueryArgs) -> Result<String, Failure> {
    if let Some(sql) = &args.sql {
        return Ok(sql.clone());
    }
    if let Some(path) = &args.file {
        return std::fs::read_to_string(path)
            .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())));
    }
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(Failure::Usage(
            "no SQL: give it as an argument, with -f FILE, or on standard input (see tributary query --help)".to_owned(),
        ));
    }
    let mut sql = String::new();
    stdin
        .read_to_string(&mut sql)
        .map_err(|e| Failure::Usage(format!("cannot read SQL from standard input: {e}")))?;
    Ok(sql)
}

/// `--format`, else the output file's extension, else a table on a terminal
/// and CSV for programs.
fn choose_format(args: &QueryArgs) -> OutputFormat {
    if let Some(format) = args.format {
        return format;
    }
    if let Some(path) = &args.output {
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default();
        return match extension.to_ascii_lowercase().as_str() {
            "json" => OutputFormat::Json,
            "ndjson" | "jsonl" => OutputFormat::Ndjson,
            "arrow" | "arrows" | "ipc" => OutputFormat::Arrow,
            "parquet" => OutputFormat::Parquet,
            "txt" => OutputFormat::Table,
            _ => OutputFormat::Csv,
        };
    }
    if std::io::stdout().is_terminal() {
        OutputFormat::Table
    } else {
        OutputFormat::Csv
    }
}

fn open_sink(output: Option<&Path>, append: bool) -> Result<Sink, Failure> {
    match output {
        None => Ok(Box::new(BufWriter::new(std::io::stdout()))),
        Some(path) => {
            let file = if append {
                OpenOptions::new().append(true).open(path)
            } else {
                File::create(path)
            }
            .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(Box::new(BufWriter::new(file)))
        }
    }
}
