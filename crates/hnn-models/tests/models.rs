use hnn_models::{
    Baseline, DynamicsModel, GradientMethod, Hnn, MlpConfig, load_checkpoint, save_checkpoint,
};
use tch::{Device, Kind, Tensor, nn};

fn setup() {
    tch::set_num_threads(1);
}

#[test]
fn explicit_gradient_equals_autograd() {
    setup();
    tch::manual_seed(3);
    let vs = nn::VarStore::new(Device::Cpu);
    let cfg = MlpConfig {
        hidden: vec![16, 12, 8],
        ..MlpConfig::default()
    };
    let mut hnn = Hnn::new(&(vs.root() / "hnn"), 4, &cfg, GradientMethod::Explicit).unwrap();
    let x = Tensor::randn([32, 4], (Kind::Float, Device::Cpu));
    let a = hnn.time_derivative(&x, false);
    hnn.set_gradient_method(GradientMethod::Autograd);
    let b = hnn.time_derivative(&x, false);
    let diff = (&a - &b).abs().max().double_value(&[]);
    assert!(diff < 1e-5, "max difference {diff}");
    // and the training gradients of a loss on the field agree too
    let target = Tensor::randn([32, 4], (Kind::Float, Device::Cpu));
    let grads = |m: &Hnn| {
        let loss = (m.time_derivative(&x, true) - &target)
            .square()
            .mean(Kind::Float);
        let vars = vs.trainable_variables();
        Tensor::run_backward(&[loss], &vars, false, false)
    };
    let g_autograd = grads(&hnn);
    hnn.set_gradient_method(GradientMethod::Explicit);
    let g_explicit = grads(&hnn);
    assert_eq!(g_explicit.len(), 7);
    for (ga, gb) in g_explicit.iter().zip(g_autograd.iter()) {
        let d = (ga - gb).abs().max().double_value(&[]);
        assert!(d < 1e-5, "weight-gradient difference {d}");
    }
}

#[test]
fn hnn_field_is_symplectic_gradient_of_its_h() {
    setup();
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let hnn = Hnn::new(
        &vs.root(),
        2,
        &MlpConfig::default(),
        GradientMethod::Explicit,
    )
    .unwrap();
    let x = Tensor::from_slice(&[0.3f32, -0.2]).view([1, 2]);
    let f = hnn.time_derivative(&x, false);
    let (dq, dp) = (f.double_value(&[0, 0]), f.double_value(&[0, 1]));
    // central differences of H
    let h = |q: f32, p: f32| {
        hnn.conserved_quantity(&Tensor::from_slice(&[q, p]).view([1, 2]))
            .unwrap()
            .double_value(&[0])
    };
    let e = 1e-2f32;
    let dh_dq = (h(0.3 + e, -0.2) - h(0.3 - e, -0.2)) / (2.0 * e as f64);
    let dh_dp = (h(0.3, -0.2 + e) - h(0.3, -0.2 - e)) / (2.0 * e as f64);
    assert!(
        (dq - dh_dp).abs() < 1e-3 && (dp + dh_dq).abs() < 1e-3,
        "{dq} {dp} vs {dh_dp} {dh_dq}"
    );
    // field is orthogonal to grad H: H is conserved along it
    assert!((dq * dh_dq + dp * dh_dp).abs() < 1e-3);
}

#[test]
fn mlp_layout_follows_the_paper() {
    setup();
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let _b = Baseline::new(&(vs.root() / "baseline"), 2, &MlpConfig::default()).unwrap();
    let vars = vs.variables();
    let mut names: Vec<_> = vars.keys().cloned().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "baseline.mlp.l0.bias",
            "baseline.mlp.l0.weight",
            "baseline.mlp.l1.bias",
            "baseline.mlp.l1.weight",
            "baseline.mlp.l2.weight"
        ]
    );
    // orthogonal init: W W^T = I for the square hidden layer
    let w = &vars["baseline.mlp.l1.weight"];
    let eye = Tensor::eye(200, (Kind::Float, Device::Cpu));
    let d = (w.matmul(&w.tr()) - eye).abs().max().double_value(&[]);
    assert!(d < 1e-4, "{d}");
}

#[test]
fn checkpoint_round_trip_restores_predictions() {
    setup();
    tch::manual_seed(1);
    let dir = std::env::temp_dir().join(format!("hnn-models-ckpt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("hnn.safetensors");
    let vs = nn::VarStore::new(Device::Cpu);
    let hnn = Hnn::new(
        &(vs.root() / "hnn"),
        2,
        &MlpConfig::default(),
        GradientMethod::Explicit,
    )
    .unwrap();
    let x = Tensor::randn([5, 2], (Kind::Float, Device::Cpu));
    let before = hnn.time_derivative(&x, false);
    save_checkpoint(&vs, &path).unwrap();
    tch::manual_seed(99);
    let mut vs2 = nn::VarStore::new(Device::Cpu);
    let hnn2 = Hnn::new(
        &(vs2.root() / "hnn"),
        2,
        &MlpConfig::default(),
        GradientMethod::Explicit,
    )
    .unwrap();
    assert!(
        (hnn2.time_derivative(&x, false) - &before)
            .abs()
            .max()
            .double_value(&[])
            > 1e-3
    );
    load_checkpoint(&mut vs2, &path).unwrap();
    assert_eq!(hnn2.time_derivative(&x, false), before);
    let missing = load_checkpoint(&mut vs2, &dir.join("nope.safetensors")).unwrap_err();
    assert!(missing.to_string().contains("nope.safetensors"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn odd_dimension_is_rejected_for_an_hnn() {
    let vs = nn::VarStore::new(Device::Cpu);
    let err = Hnn::new(
        &vs.root(),
        3,
        &MlpConfig::default(),
        GradientMethod::Explicit,
    )
    .unwrap_err();
    assert!(err.to_string().contains("even"), "{err}");
}
