//! `#[derive(Tracked)]`: a subclassed model and a composite layer whose layer
//! fields are found automatically (no hand-written lists).

use ceras::layers::{Dense, Layer, LayerBase, LayerRef, Tracked};
use ceras::models::{Model, ModelCore, SharedLayer};
use ceras::{ops, random, DType, Result, Tensor};

/// A residual block: a composite layer holding two Dense layers.
#[derive(Tracked)]
struct Residual {
    base: LayerBase,
    a: Dense,
    b: Dense,
}

impl Residual {
    fn new(units: usize) -> Residual {
        Residual {
            base: LayerBase::new("Residual"),
            a: Dense::new(units).activation("relu"),
            b: Dense::new(units),
        }
    }
}

impl Layer for Residual {
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn class_name(&self) -> &'static str {
        "Residual"
    }
    fn build(&mut self, shape: &[Option<usize>]) -> Result<()> {
        self.a.maybe_build(shape)?;
        self.b.maybe_build(&self.a.compute_output_shape(shape)?)
    }
    fn call(&self, x: &Tensor, training: bool) -> Result<Tensor> {
        let h = self.b.call(&self.a.call(x, training)?, training)?;
        ops::add(x, &h)
    }
    fn sublayers(&self) -> Vec<LayerRef<'_>> {
        self.tracked_layers()
    }
}

/// A subclassed model: every layer-holding field is tracked; the rest is not.
#[derive(Tracked)]
struct Net {
    core: ModelCore,
    blocks: Vec<Residual>,
    head: Dense,
    spare: Option<Dense>,
    shared: SharedLayer,
    note: String,
}

impl Model for Net {
    fn core(&self) -> &ModelCore {
        &self.core
    }
    fn core_mut(&mut self) -> &mut ModelCore {
        &mut self.core
    }
    fn call(&mut self, x: &Tensor, training: bool) -> Result<Tensor> {
        let mut h = self.shared.write().forward(x, training)?;
        for b in &mut self.blocks {
            h = b.forward(&h, training)?;
        }
        self.head.forward(&h, training)
    }
    fn layers(&self) -> Vec<LayerRef<'_>> {
        self.tracked_layers()
    }
}

#[test]
fn derived_tracking_finds_every_layer_and_trains() {
    let mut net = Net {
        core: ModelCore::new("net"),
        blocks: vec![Residual::new(4), Residual::new(4)],
        head: Dense::new(1),
        spare: None,
        shared: SharedLayer::new(Dense::new(4)),
        note: "not a layer".into(),
    };
    assert_eq!(net.note.len(), 11);
    let x = random::uniform(&[64, 3], -1.0, 1.0, Some(DType::F32), random::Seed::Int(3)).unwrap();
    let y = ops::sum(&x, Some(&[1]), true).unwrap();
    net.compile(
        ceras::optimizers::Adam::new(0.01),
        "mse",
        Vec::<&str>::new(),
    )
    .unwrap();
    let h = net
        .fit(&x, &y)
        .epochs(30)
        .batch_size(16)
        .verbose(0)
        .run()
        .unwrap();
    // blocks (2 × two Dense 4→4) + head (4→1) + shared (3→4), spare absent.
    let names: Vec<String> = net.layers().iter().map(|l| l.name().to_string()).collect();
    assert_eq!(names.len(), 4, "{names:?}");
    assert_eq!(
        net.count_params(),
        2 * 2 * (4 * 4 + 4) + (4 + 1) + (3 * 4 + 4)
    );
    let l = &h.history["loss"];
    assert!(l[29] < l[0] * 0.1, "{l:?}");
    // Freezing the composite layer freezes both of its Dense layers.
    net.blocks[0].set_trainable(false);
    assert_eq!(net.trainable_variables().len(), 2 * 4 + 2 + 2 - 4);
}

#[test]
fn unfreezing_keeps_statistics_non_trainable() {
    let mut bn = ceras::layers::BatchNormalization::new();
    bn.forward(&ops::ones(&[2, 3], None).unwrap(), false)
        .unwrap();
    assert_eq!(
        (
            bn.trainable_weights().len(),
            bn.non_trainable_weights().len()
        ),
        (2, 2)
    );
    bn.set_trainable(false);
    assert_eq!(
        (
            bn.trainable_weights().len(),
            bn.non_trainable_weights().len()
        ),
        (0, 4)
    );
    bn.set_trainable(true);
    // moving_mean / moving_variance were created non-trainable and stay so (Keras).
    assert_eq!(
        (
            bn.trainable_weights().len(),
            bn.non_trainable_weights().len()
        ),
        (2, 2)
    );
}
