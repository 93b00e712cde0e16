//! Keras's `mnist_convnet` example in ceras: a small convnet on real MNIST digits,
//! offline. Uses the full Keras `~/.keras/datasets/mnist.npz` when present, else
//! the 10,000-digit subset shipped in `data/mnist.npz`.
//!
//! Run: `cargo run --release --example mnist_convnet` (optional: epochs as the
//! first argument; default 15 as in Keras's example).

use ceras::layers::{Conv2D, Dense, Dropout, Flatten, MaxPooling2D};
use ceras::models::{Input, Model, Sequential};
use ceras::{datasets, ops, optimizers, DType};
use std::time::Instant;

fn main() -> ceras::Result<()> {
    let epochs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(15);
    ceras::random::set_seed(1337);

    let ((x_train, y_train), (x_test, y_test), path) = datasets::mnist::load_data()?;
    println!("data: {}", path.display());
    // Scale images to the [0, 1] range and add the channel axis.
    let prep = |x: &ceras::Tensor| -> ceras::Result<ceras::Tensor> {
        ops::expand_dims(ops::divide(ops::cast(x, DType::F32)?, 255.0)?, &[-1])
    };
    let (x_train, x_test) = (prep(&x_train)?, prep(&x_test)?);
    println!("x_train shape: {:?}", x_train.shape());
    println!("{} train samples", x_train.shape()[0]);
    println!("{} test samples", x_test.shape()[0]);
    let num_classes = 10;
    let y_train = ops::one_hot(&y_train, num_classes, -1, None)?;
    let y_test = ops::one_hot(&y_test, num_classes, -1, None)?;

    let mut model = Sequential::new()
        .add(Input::new([28, 28, 1]))
        .add(Conv2D::new(32, [3, 3]).activation("relu"))
        .add(MaxPooling2D::new([2, 2]))
        .add(Conv2D::new(64, [3, 3]).activation("relu"))
        .add(MaxPooling2D::new([2, 2]))
        .add(Flatten::new())
        .add(Dropout::new(0.5))
        .add(Dense::new(num_classes).activation("softmax"));
    model.summary();

    model.compile(
        optimizers::Adam::new(0.001),
        "categorical_crossentropy",
        ["accuracy"],
    )?;
    let t = Instant::now();
    model
        .fit(&x_train, &y_train)
        .batch_size(128)
        .epochs(epochs)
        .validation_split(0.1)
        .run()?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "trained {epochs} epochs in {secs:.1} s ({:.2} s per epoch)",
        secs / epochs.max(1) as f64
    );

    let score = model.evaluate(&x_test, &y_test, 128, 0)?;
    println!("test loss: {:.4}", score["loss"]);
    println!("test accuracy: {:.4}", score["accuracy"]);
    Ok(())
}
