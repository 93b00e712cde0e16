//! Decoding of the corpus's JSON `Value` encoding (see
//! `../shared/conformance/README.md`, "Value" and "Array").

use base64::Engine;
use serde_json::Value as Json;

/// A decoded corpus value: the Python object that was passed to (or returned by) an op.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `None`.
    None,
    /// Python `bool`.
    Bool(bool),
    /// Python `int`.
    Int(i64),
    /// Python `float` (NaN / ±inf included).
    Float(f64),
    /// Python `complex` (not supported by ceras; cases holding one are skipped).
    Complex(f64, f64),
    /// Python `str` (padding modes, subscripts, dtype names, ...).
    Str(String),
    /// Python `list`.
    List(Vec<Value>),
    /// Python `tuple`.
    Tuple(Vec<Value>),
    /// Python `dict` (insertion order kept).
    Dict(Vec<(String, Value)>),
    /// A tensor / NumPy array / NumPy scalar.
    Array(Array),
    /// Python `slice(start, stop, step)`.
    Slice(Box<[Value; 3]>),
    /// `...`.
    Ellipsis,
    /// A Python type object (`int`, `float`, `bool`) passed as a value.
    PyType(String),
    /// A Python callable (not replayable: cases holding one are skipped).
    Callable(String),
}

/// A recorded array: raw little-endian element bytes in C order.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    /// NumPy / ml_dtypes name (`"float32"`, `"bfloat16"`, `"complex64"`, ...).
    pub dtype: String,
    /// Shape (`[]` for 0-d).
    pub shape: Vec<usize>,
    /// Raw bytes.
    pub data: Vec<u8>,
    /// A NumPy scalar (strongly typed 0-d), not an ndarray.
    pub scalar: bool,
    /// The Python container (`"jax"`, `"variable"`, ...); `None` for NumPy.
    pub kind: Option<String>,
}

impl Value {
    /// True when the value is `None`.
    pub fn is_none(&self) -> bool {
        matches!(self, Value::None)
    }

    /// Short description for messages (`int 3`, `array float32[2, 3]`, ...).
    pub fn describe(&self) -> String {
        match self {
            Value::None => "None".into(),
            Value::Bool(b) => format!("bool {b}"),
            Value::Int(i) => format!("int {i}"),
            Value::Float(f) => format!("float {f}"),
            Value::Complex(r, i) => format!("complex ({r}+{i}j)"),
            Value::Str(s) => format!("str {s:?}"),
            Value::List(v) => format!("list[{}]", v.len()),
            Value::Tuple(v) => format!("tuple[{}]", v.len()),
            Value::Dict(v) => format!("dict[{}]", v.len()),
            Value::Array(a) => format!("array {}{:?}", a.dtype, a.shape),
            Value::Slice(_) => "slice".into(),
            Value::Ellipsis => "...".into(),
            Value::PyType(t) => format!("type {t}"),
            Value::Callable(n) => format!("callable {n}"),
        }
    }

    /// Calls `f` on this value and every value nested in it.
    pub fn visit(&self, f: &mut dyn FnMut(&Value)) {
        f(self);
        match self {
            Value::List(v) | Value::Tuple(v) => v.iter().for_each(|x| x.visit(f)),
            Value::Dict(v) => v.iter().for_each(|(_, x)| x.visit(f)),
            Value::Slice(s) => s.iter().for_each(|x| x.visit(f)),
            _ => {}
        }
    }
}

fn py_float(v: &Json) -> Result<f64, String> {
    match v {
        Json::Number(n) => n.as_f64().ok_or_else(|| format!("bad float {n}")),
        Json::String(s) => match s.as_str() {
            "nan" => Ok(f64::NAN),
            "inf" => Ok(f64::INFINITY),
            "-inf" => Ok(f64::NEG_INFINITY),
            _ => Err(format!("bad float string {s:?}")),
        },
        _ => Err(format!("bad float {v}")),
    }
}

fn decode_array(a: &Json) -> Result<Array, String> {
    let o = a.as_object().ok_or("array is not an object")?;
    let dtype = o
        .get("dtype")
        .and_then(Json::as_str)
        .ok_or("array without dtype")?
        .to_string();
    let shape = o
        .get("shape")
        .and_then(Json::as_array)
        .ok_or("array without shape")?
        .iter()
        .map(|d| d.as_u64().map(|d| d as usize).ok_or("bad dimension"))
        .collect::<Result<Vec<_>, _>>()?;
    let data = o
        .get("data")
        .and_then(Json::as_str)
        .ok_or("array without data")?;
    let data = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|e| format!("bad base64: {e}"))?;
    let scalar = o.get("scalar").and_then(Json::as_bool).unwrap_or(false);
    let kind = o.get("kind").and_then(Json::as_str).map(str::to_string);
    Ok(Array {
        dtype,
        shape,
        data,
        scalar,
        kind,
    })
}

/// Decodes one JSON value of the corpus encoding.
pub fn decode(v: &Json) -> Result<Value, String> {
    Ok(match v {
        Json::Null => Value::None,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Int(i)
            } else {
                return Err(format!("integer out of the i64 range: {n}"));
            }
        }
        Json::String(s) => Value::Str(s.clone()),
        Json::Array(v) => Value::List(v.iter().map(decode).collect::<Result<_, _>>()?),
        Json::Object(o) => {
            if let Some(a) = o.get("array") {
                Value::Array(decode_array(a)?)
            } else if let Some(t) = o.get("tuple") {
                let t = t.as_array().ok_or("tuple is not a list")?;
                Value::Tuple(t.iter().map(decode).collect::<Result<_, _>>()?)
            } else if let Some(d) = o.get("dict") {
                let d = d.as_object().ok_or("dict is not an object")?;
                Value::Dict(
                    d.iter()
                        .map(|(k, v)| Ok((k.clone(), decode(v)?)))
                        .collect::<Result<_, String>>()?,
                )
            } else if let Some(p) = o.get("py") {
                let val = o.get("value").ok_or("py value without value")?;
                match p.as_str() {
                    Some("float") => Value::Float(py_float(val)?),
                    Some("int") => Value::Int(val.as_i64().ok_or("bad py int")?),
                    Some("bool") => Value::Bool(val.as_bool().ok_or("bad py bool")?),
                    Some("complex") => {
                        let c = val.as_array().ok_or("bad complex")?;
                        if c.len() != 2 {
                            return Err("bad complex".into());
                        }
                        Value::Complex(py_float(&c[0])?, py_float(&c[1])?)
                    }
                    _ => return Err(format!("unknown py type {p}")),
                }
            } else if let Some(s) = o.get("slice") {
                let s = s.as_array().ok_or("slice is not a list")?;
                if s.len() != 3 {
                    return Err("slice needs 3 members".into());
                }
                Value::Slice(Box::new([decode(&s[0])?, decode(&s[1])?, decode(&s[2])?]))
            } else if o.contains_key("ellipsis") {
                Value::Ellipsis
            } else if let Some(t) = o.get("pytype") {
                Value::PyType(t.as_str().ok_or("bad pytype")?.to_string())
            } else if let Some(c) = o.get("callable") {
                Value::Callable(c.as_str().unwrap_or("?").to_string())
            } else {
                return Err(format!(
                    "unknown object value with keys {:?}",
                    o.keys().collect::<Vec<_>>()
                ));
            }
        }
    })
}

/// What the recorded call produced.
#[derive(Clone, Debug)]
pub enum Expected {
    /// A returned value.
    Value(Value),
    /// A raised exception (class name, message).
    Error { class: String, message: String },
}

/// One recorded call.
#[derive(Debug)]
pub struct Case {
    /// Op name (`add`, `image.resize`, ...).
    pub op: String,
    /// 0-based index of the case in its `.jsonl` file (the `op:<index>` of known_failures.txt).
    pub index: usize,
    /// Positional arguments.
    pub args: Vec<Value>,
    /// Keyword arguments, in recorded order.
    pub kwargs: Vec<(String, Value)>,
    /// The recorded outcome.
    pub expected: Expected,
    /// pytest node id of the test that made the call.
    pub source: String,
    /// `config.image_data_format` at call time.
    pub image_data_format: String,
    /// `config.floatx` at call time.
    pub floatx: String,
    /// Which arguments the op entry read (positional, then keyword).
    pub(crate) used: std::cell::RefCell<(Vec<bool>, Vec<bool>)>,
}

impl Case {
    /// Parses one line of a `.jsonl` file.
    pub fn parse(line: &str, index: usize) -> Result<Case, String> {
        let j: Json = serde_json::from_str(line).map_err(|e| format!("bad JSON: {e}"))?;
        let op = j["op"].as_str().ok_or("case without op")?.to_string();
        let args = j["args"]
            .as_array()
            .ok_or("case without args")?
            .iter()
            .map(decode)
            .collect::<Result<Vec<_>, _>>()?;
        let kwargs = j["kwargs"]
            .as_object()
            .ok_or("case without kwargs")?
            .iter()
            .map(|(k, v)| Ok((k.clone(), decode(v)?)))
            .collect::<Result<Vec<_>, String>>()?;
        let r = &j["result"];
        let expected = match r.as_object().and_then(|o| o.get("error")) {
            Some(e) => Expected::Error {
                class: e.as_str().unwrap_or("?").to_string(),
                message: r["message"].as_str().unwrap_or("").to_string(),
            },
            None => Expected::Value(decode(r)?),
        };
        let source = j["source"].as_str().unwrap_or("?").to_string();
        let cfg = &j["config"];
        let image_data_format = cfg["image_data_format"]
            .as_str()
            .unwrap_or("channels_last")
            .to_string();
        let floatx = cfg["floatx"].as_str().unwrap_or("float32").to_string();
        let used = std::cell::RefCell::new((vec![false; args.len()], vec![false; kwargs.len()]));
        Ok(Case {
            op,
            index,
            args,
            kwargs,
            expected,
            source,
            image_data_format,
            floatx,
            used,
        })
    }

    /// Every argument value (positional and keyword).
    pub fn all_args(&self) -> impl Iterator<Item = &Value> {
        self.args.iter().chain(self.kwargs.iter().map(|(_, v)| v))
    }

    /// `source` without the `keras/src/ops/` prefix.
    pub fn short_source(&self) -> &str {
        self.source
            .strip_prefix("keras/src/ops/")
            .unwrap_or(&self.source)
    }

    /// Names of the arguments (positional as `#i`) that are not `None` and that the
    /// op entry did not read.
    pub fn unused_args(&self) -> Vec<String> {
        let used = self.used.borrow();
        let mut out = Vec::new();
        for (i, v) in self.args.iter().enumerate() {
            if !used.0[i] && !v.is_none() {
                out.push(format!("#{i}"));
            }
        }
        for (i, (k, v)) in self.kwargs.iter().enumerate() {
            if !used.1[i] && !v.is_none() {
                out.push(k.clone());
            }
        }
        out
    }
}
