//! Models and data shared by the bench harnesses (`training.rs`, `peers.rs`).

use ceras::layers::{Conv2D, Dense, Dropout, Flatten, MaxPooling2D};
use ceras::models::{Input, Sequential};
use ceras::{random, DType, Tensor};

/// Uniform [0, 1) float32 values of this shape.
pub fn uniform(shape: &[usize], seed: u64) -> Tensor {
    random::uniform(shape, 0.0, 1.0, Some(DType::F32), random::Seed::Int(seed)).unwrap()
}

/// MLP 784-512-512-10 (relu, softmax).
pub fn mlp() -> Sequential {
    Sequential::new()
        .add(Input::new([784]))
        .add(Dense::new(512).activation("relu"))
        .add(Dense::new(512).activation("relu"))
        .add(Dense::new(10).activation("softmax"))
}

/// Keras's mnist_convnet.
pub fn convnet() -> Sequential {
    Sequential::new()
        .add(Input::new([28, 28, 1]))
        .add(Conv2D::new(32, 3).activation("relu"))
        .add(MaxPooling2D::new(2))
        .add(Conv2D::new(64, 3).activation("relu"))
        .add(MaxPooling2D::new(2))
        .add(Flatten::new())
        .add(Dropout::new(0.5))
        .add(Dense::new(10).activation("softmax"))
}
