//! Callbacks inside `fit`: checkpoints, learning-rate reduction, CSV logs,
//! early stopping (Keras's patience counting and restore_best_weights), and
//! weight files.

use ceras::callbacks::{
    CSVLogger, Callback, Control, EarlyStopping, Logs, ModelCheckpoint, ReduceLROnPlateau,
};
use ceras::layers::Dense;
use ceras::models::{Input, Model, Sequential};
use ceras::{ops, random, DType, Tensor};

fn data() -> (Tensor, Tensor) {
    let x = random::uniform(&[32, 3], -1.0, 1.0, Some(DType::F32), random::Seed::Int(1)).unwrap();
    let y = ops::sum(&x, Some(&[1]), true).unwrap();
    (x, y)
}

/// A linear model with a zero kernel, so every run trains the same way (an
/// unseeded random kernel made the early-stopping test depend on luck).
fn model() -> Sequential {
    let mut m = Sequential::new()
        .add(Input::new([3]))
        .add(Dense::new(1).kernel_initializer("zeros"));
    m.compile(ceras::optimizers::Sgd::new(0.05), "mse", ["mae"])
        .unwrap();
    m
}

/// A fresh directory under the system temp dir, removed (with its contents)
/// when the returned guard drops, so test runs leave nothing behind.
fn tmpdir(tag: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("ceras-cb-{tag}-"))
        .tempdir()
        .unwrap()
}

#[test]
fn checkpoint_csv_and_weights_round_trip() {
    let dir_guard = tmpdir("ckpt");
    let dir = dir_guard.path();
    let (x, y) = data();
    let mut m = model();
    let tmpl = dir.join("w-{epoch:02d}-{val_loss:.3f}.weights.npz");
    let mut ck = ModelCheckpoint::new(tmpl.to_str().unwrap()).save_best_only(true);
    let csv = dir.join("log.csv");
    let h = m
        .fit(&x, &y)
        .epochs(4)
        .batch_size(8)
        .validation_data(&x, &y)
        .verbose(0)
        .callback(&mut ck)
        .callback(CSVLogger::new(&csv))
        .run()
        .unwrap();
    // Validation loss falls every epoch on this easy problem: one file per epoch.
    assert_eq!(ck.saved.len(), 4, "{:?}", ck.saved);
    let name = ck.saved[3]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    assert_eq!(
        name,
        format!("w-04-{:.3}.weights.npz", h.history["val_loss"][3])
    );
    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "epoch,loss,mae,val_loss,val_mae");
    assert_eq!(lines.len(), 5);
    assert!(lines[4].starts_with("3,"));

    // The last checkpoint holds the current weights; loading restores them.
    let saved: Vec<Vec<f32>> = m
        .variables()
        .iter()
        .map(|v| v.value().to_vec().unwrap())
        .collect();
    for v in m.variables() {
        v.assign(ops::zeros_like(v.value(), None).unwrap()).unwrap();
    }
    m.load_weights(&ck.saved[3]).unwrap();
    let back: Vec<Vec<f32>> = m
        .variables()
        .iter()
        .map(|v| v.value().to_vec().unwrap())
        .collect();
    assert_eq!(saved, back);

    // Errors: wrong shapes, wrong format.
    let mut other = Sequential::new().add(Input::new([4])).add(Dense::new(1));
    let err = other.load_weights(&ck.saved[3]).unwrap_err().to_string();
    assert!(
        err.contains("shape [4, 1]") && err.contains("[3, 1]"),
        "{err}"
    );
    let err = m.save_weights(dir.join("w.bin")).unwrap_err().to_string();
    assert!(
        err.contains(".weights.h5") && err.contains(".weights.npz"),
        "{err}"
    );
    // Keras's own format works too, and reloads the same values.
    m.save_weights(dir.join("w.weights.h5")).unwrap();
    let before: Vec<Vec<f32>> = m
        .variables()
        .iter()
        .map(|v| v.value().to_vec().unwrap())
        .collect();
    m.load_weights(dir.join("w.weights.h5")).unwrap();
    let after: Vec<Vec<f32>> = m
        .variables()
        .iter()
        .map(|v| v.value().to_vec().unwrap())
        .collect();
    assert_eq!(before, after);
}

#[test]
fn reduce_lr_on_plateau_lowers_the_rate() {
    let (x, y) = data();
    let mut m = model();
    m.fit(&x, &y)
        .epochs(6)
        .verbose(0)
        .callback(
            // A falling loss never "improves" in max mode: reduce every 2 epochs.
            ReduceLROnPlateau::new("loss")
                .patience(2)
                .factor(0.5)
                .mode("max"),
        )
        .run()
        .unwrap();
    // Epoch 0 sets the best; reductions after epochs 2 and 4: 0.05 → 0.025 → 0.0125.
    assert!((m.optimizer().unwrap().learning_rate().unwrap() - 0.0125).abs() < 1e-9);

    let mut plateau = ReduceLROnPlateau::new("loss")
        .patience(2)
        .factor(0.5)
        .min_lr(0.01);
    let mut c = Control {
        learning_rate: Some(0.08),
        ..Control::default()
    };
    plateau.on_train_begin(&mut c).unwrap();
    let mut rates = Vec::new();
    for (e, v) in [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0].into_iter().enumerate() {
        plateau
            .on_epoch_end(e, &Logs::from([("loss".to_string(), v)]), &mut c)
            .unwrap();
        rates.push(c.learning_rate.unwrap());
    }
    // Keras: first epoch sets best; then wait 1, 2 → reduce; 1, 2 → reduce; floor at min_lr.
    assert_eq!(rates, vec![0.08, 0.08, 0.04, 0.04, 0.02, 0.02, 0.01]);
}

#[test]
fn early_stopping_counts_like_keras_and_restores() {
    // patience=2: stops at the second epoch without improvement.
    let mut es = EarlyStopping::new("val_loss").patience(2);
    let mut c = Control::default();
    es.on_train_begin(&mut c).unwrap();
    for (e, v) in [1.0, 0.5, 0.6, 0.7, 0.8].into_iter().enumerate() {
        es.on_epoch_end(e, &Logs::from([("val_loss".to_string(), v)]), &mut c)
            .unwrap();
        if c.stop_training {
            break;
        }
    }
    assert_eq!(es.stopped_epoch, Some(3));
    assert_eq!(es.best_epoch, Some(1));

    // restore_best_weights inside fit: validation on data that gets worse.
    let (x, y) = data();
    let mut m = model();
    let y_bad = ops::negative(&y).unwrap();
    // On targets of the opposite sign, the validation MAE grows as training goes.
    let mut es = EarlyStopping::new("val_mae")
        .patience(1)
        .restore_best_weights(true);
    let h = m
        .fit(&x, &y)
        .epochs(5)
        .validation_data(&x, &y_bad)
        .verbose(0)
        .callback(&mut es)
        .run()
        .unwrap();
    assert_eq!(es.best_epoch, Some(0), "{h:?}");
    assert_eq!(h.history["val_mae"].len(), 2);
    assert!(h.history["val_mae"][1] > h.history["val_mae"][0]);
    // The weights after epoch 0 are back: the validation MAE is the best one seen.
    let logs = m.evaluate(&x, &y_bad, 32, 0).unwrap();
    assert!(
        (logs["mae"] - h.history["val_mae"][0]).abs() < 1e-6,
        "{logs:?} {h:?}"
    );
}
