//! `ceras`: Keras 3 `.keras` files from the command line.
//!
//! ```text
//! ceras summary MODEL.keras
//! ceras predict MODEL.keras --input X.npy [--input X2.npy ...] --output Y.npy [--batch-size N]
//! ceras convert IN OUT          (.keras, .weights.h5, .safetensors)
//! ceras inspect MODEL.keras
//! ```
//!
//! The backend follows `KERAS_BACKEND` / `~/.keras/keras.json`, as in Keras.
//! Errors go to stderr with exit status 1 (2 for bad usage).

mod safetensors;

use ceras::saving::{self, keras::read_archive};
use ceras::{npy, Model, Tensor};
use ceras_hdf5 as h5;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "\
ceras — Keras 3 models from the command line

Usage:
  ceras summary MODEL.keras
  ceras predict MODEL.keras --input X.npy [--input X2.npy ...] --output Y.npy [--batch-size N]
  ceras convert IN OUT
  ceras inspect MODEL.keras
  ceras COMMAND --help

The backend is chosen by KERAS_BACKEND or ~/.keras/keras.json (default: cpu).";

const HELP_SUMMARY: &str = "\
ceras summary MODEL.keras

Prints Keras's summary table of the model: layers, output shapes, parameter counts.";

const HELP_PREDICT: &str = "\
ceras predict MODEL.keras --input X.npy [--input X2.npy ...] --output Y.npy [--batch-size N]

Runs the model on the inputs (.npy files, in the model's input order as its
config lists them) and writes the predictions. A model with several outputs
writes Y_0.npy, Y_1.npy, ... in the order of the config's output_layers.
--batch-size defaults to 32.";

const HELP_CONVERT: &str = "\
ceras convert IN OUT

Converts between formats, chosen by the file names:
  .keras        -> .weights.h5    the weights (Keras's save_weights layout)
  .keras        -> .safetensors   the weights, keyed by their h5 paths
                                  (layers/dense/vars/0, ...)
  .weights.h5   -> .safetensors
  .safetensors  -> .weights.h5
  .keras        -> .keras         re-saved by ceras
Weights alone cannot become a .keras file (it needs the architecture).";

const HELP_INSPECT: &str = "\
ceras inspect MODEL.keras

Prints the model's class and name, its compile settings, every variable with
its shape and dtype, and the optimizer state.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Usage(m)) => {
            eprintln!("error: {m}\n\n{USAGE}");
            ExitCode::from(2)
        }
        Err(CliError::Failed(m)) => {
            eprintln!("error: {m}");
            ExitCode::from(1)
        }
    }
}

enum CliError {
    Usage(String),
    Failed(String),
}

impl From<ceras::Error> for CliError {
    fn from(e: ceras::Error) -> Self {
        CliError::Failed(e.to_string())
    }
}

fn fail(m: impl Into<String>) -> CliError {
    CliError::Failed(m.into())
}

fn run(args: &[String]) -> Result<(), CliError> {
    let Some(cmd) = args.first() else {
        println!("{USAGE}");
        return Ok(());
    };
    let rest = &args[1..];
    let wants_help = rest.iter().any(|a| a == "--help" || a == "-h");
    match cmd.as_str() {
        "--help" | "-h" | "help" => {
            println!("{USAGE}");
            Ok(())
        }
        "--version" | "-V" => {
            println!("ceras {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        "summary" if wants_help => help(HELP_SUMMARY),
        "predict" if wants_help => help(HELP_PREDICT),
        "convert" if wants_help => help(HELP_CONVERT),
        "inspect" if wants_help => help(HELP_INSPECT),
        "summary" => summary(one_path(rest, "summary")?),
        "predict" => predict(rest),
        "convert" => match rest {
            [a, b] => convert(Path::new(a), Path::new(b)),
            _ => Err(CliError::Usage("convert takes IN and OUT".into())),
        },
        "inspect" => inspect(one_path(rest, "inspect")?),
        other => Err(CliError::Usage(format!("unknown command '{other}'"))),
    }
}

fn help(text: &str) -> Result<(), CliError> {
    println!("{text}");
    Ok(())
}

fn one_path<'a>(rest: &'a [String], cmd: &str) -> Result<&'a Path, CliError> {
    match rest {
        [p] => Ok(Path::new(p)),
        _ => Err(CliError::Usage(format!("{cmd} takes one MODEL.keras"))),
    }
}

fn summary(path: &Path) -> Result<(), CliError> {
    let m = saving::load_model(path)?;
    print!("{}", m.summary_string());
    Ok(())
}

fn predict(rest: &[String]) -> Result<(), CliError> {
    let mut model: Option<PathBuf> = None;
    let mut inputs: Vec<PathBuf> = Vec::new();
    let mut output: Option<PathBuf> = None;
    let mut batch = 32usize;
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| CliError::Usage(format!("{flag} needs a value")))
        };
        match a.as_str() {
            "--input" | "-i" => inputs.push(value("--input")?.into()),
            "--output" | "-o" => output = Some(value("--output")?.into()),
            "--batch-size" | "-b" => {
                let v = value("--batch-size")?;
                batch = v.parse().ok().filter(|&b: &usize| b > 0).ok_or_else(|| {
                    CliError::Usage(format!(
                        "--batch-size must be a positive integer, got '{v}'"
                    ))
                })?;
            }
            s if s.starts_with('-') => {
                return Err(CliError::Usage(format!("unknown option '{s}'")))
            }
            s if model.is_none() => model = Some(s.into()),
            s => return Err(CliError::Usage(format!("unexpected argument '{s}'"))),
        }
    }
    let model = model.ok_or_else(|| CliError::Usage("predict needs MODEL.keras".into()))?;
    let output = output.ok_or_else(|| CliError::Usage("predict needs --output Y.npy".into()))?;
    if inputs.is_empty() {
        return Err(CliError::Usage(
            "predict needs at least one --input X.npy".into(),
        ));
    }
    let mut m = saving::load_model(&model)?;
    let xs: Vec<Tensor> = inputs
        .iter()
        .map(|p| npy::load(p).map_err(|e| fail(format!("{}: {e}", p.display()))))
        .collect::<Result<_, _>>()?;
    let data = if xs.len() == 1 {
        ceras::models::Data::Tensor(xs.into_iter().next().unwrap_or_else(|| unreachable!()))
    } else {
        ceras::models::Data::List(xs)
    };
    let outs: Vec<Tensor> = match m.predict_outputs(data, batch)? {
        ceras::models::Data::Tensor(t) => vec![t],
        ceras::models::Data::List(v) => v,
        ceras::models::Data::Dict(v) => v.into_iter().map(|(_, t)| t).collect(),
    };
    if outs.len() == 1 {
        npy::save(&output, &outs[0])?;
    } else {
        let stem = output
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| "output".into());
        for (i, t) in outs.iter().enumerate() {
            npy::save(output.with_file_name(format!("{stem}_{i}.npy")), t)?;
        }
    }
    Ok(())
}

fn kind(p: &Path) -> Option<&'static str> {
    let n = p.to_string_lossy();
    if n.ends_with(".keras") {
        Some("keras")
    } else if n.ends_with(".h5") {
        Some("h5")
    } else if n.ends_with(".safetensors") {
        Some("safetensors")
    } else {
        None
    }
}

fn read_file(p: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(p).map_err(|e| fail(format!("{}: {e}", p.display())))
}

fn convert(input: &Path, output: &Path) -> Result<(), CliError> {
    let (Some(from), Some(to)) = (kind(input), kind(output)) else {
        return Err(CliError::Usage(
            "convert works between .keras, .weights.h5 and .safetensors files".into(),
        ));
    };
    let write = |bytes: &[u8]| saving::keras::write_atomic(output, bytes).map_err(CliError::from);
    match (from, to) {
        ("keras", "keras") => {
            let m = saving::load_model(input)?;
            m.save(output)?;
            Ok(())
        }
        ("keras", "h5") => write(&read_archive(input)?.weights),
        ("keras", "safetensors") => {
            let tree = h5::read(&read_archive(input)?.weights)
                .map_err(|e| fail(format!("{}: {e}", input.display())))?;
            write(&safetensors::from_tree(&tree).map_err(fail)?)
        }
        ("h5", "safetensors") => {
            let tree = h5::read(&read_file(input)?)
                .map_err(|e| fail(format!("{}: {e}", input.display())))?;
            write(&safetensors::from_tree(&tree).map_err(fail)?)
        }
        ("safetensors", "h5") => {
            let tree = safetensors::to_tree(&read_file(input)?)
                .map_err(|e| fail(format!("{}: {e}", input.display())))?;
            write(&h5::write(&tree).map_err(|e| fail(e.to_string()))?)
        }
        ("h5", "h5") | ("safetensors", "safetensors") => write(&read_file(input)?),
        (_, "keras") => Err(fail(format!(
            "{}: a .keras file needs the model's architecture, which {} does not hold",
            output.display(),
            input.display()
        ))),
        _ => Err(CliError::Usage("unsupported conversion".into())),
    }
}

fn inspect(path: &Path) -> Result<(), CliError> {
    let ar = read_archive(path)?;
    let config: Value = saving::keras::parse_json(&ar.config)
        .map_err(|e| fail(format!("{}: config.json: {e}", path.display())))?;
    let tree = h5::read(&ar.weights).map_err(|e| fail(format!("{}: {e}", path.display())))?;
    let cfg = &config["config"];
    println!(
        "model: {} '{}' ({} layers)",
        config["class_name"].as_str().unwrap_or("?"),
        cfg["name"].as_str().unwrap_or("?"),
        cfg["layers"].as_array().map_or(0, |a| a.len())
    );
    for l in cfg["layers"].as_array().into_iter().flatten() {
        println!(
            "  layer {} ({})",
            l["config"]["name"]
                .as_str()
                .or(l["name"].as_str())
                .unwrap_or("?"),
            l["class_name"].as_str().unwrap_or("?")
        );
    }
    match config
        .get("compile_config")
        .filter(|c| c.as_object().is_some_and(|m| !m.is_empty()))
    {
        Some(cc) => {
            println!("compile:");
            let opt = &cc["optimizer"];
            println!(
                "  optimizer: {} {}",
                opt["class_name"].as_str().unwrap_or("?"),
                opt["config"]
            );
            for k in ["loss", "loss_weights", "metrics", "weighted_metrics"] {
                println!("  {k}: {}", cc[k]);
            }
        }
        None => println!("compile: not compiled"),
    }
    let mut datasets = Vec::new();
    safetensors::collect(&tree, "", &mut datasets);
    let vars: Vec<(String, String, Vec<usize>)> = datasets
        .into_iter()
        .map(|(p, d)| {
            let dtype = match (d.dtype, d.attrs.iter().any(|(k, _)| k == "dtype")) {
                (h5::Dtype::Opaque(2), true) => "bfloat16".to_string(),
                (t, _) => format!("{t:?}").to_lowercase(),
            };
            (p, dtype, d.shape.clone())
        })
        .collect();
    let (opt, model): (Vec<_>, Vec<_>) = vars
        .into_iter()
        .partition(|v| v.0.starts_with("optimizer/"));
    let count = |v: &[(String, String, Vec<usize>)]| -> usize {
        v.iter().map(|x| x.2.iter().product::<usize>()).sum()
    };
    println!(
        "variables ({} arrays, {} values):",
        model.len(),
        count(&model)
    );
    for (p, d, s) in &model {
        println!("  /{p}  {d}  {s:?}");
    }
    if opt.is_empty() {
        println!("optimizer state: none");
    } else {
        println!(
            "optimizer state ({} arrays, {} values):",
            opt.len(),
            count(&opt)
        );
        for (p, d, s) in &opt {
            println!("  /{p}  {d}  {s:?}");
        }
    }
    Ok(())
}
