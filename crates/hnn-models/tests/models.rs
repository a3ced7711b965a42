use hnn_models::{
    Baseline, DissipativeHnn, DynamicsModel, GradientMethod, Hnn, MlpConfig, ModelSpec,
    build_model, check_model, load_checkpoint, save_checkpoint,
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
        hnn.energy(&Tensor::from_slice(&[q, p]).view([1, 2]))
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
    save_checkpoint(&vs, &path, &serde_json::Map::new()).unwrap();
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

/// Sets every variable of `vs` whose name ends with a key of `values`.
fn set_vars(vs: &nn::VarStore, values: &[(&str, &[f32])]) {
    let vars = vs.variables();
    tch::no_grad(|| {
        for (suffix, v) in values {
            let (_, t) = vars
                .iter()
                .find(|(k, _)| k.ends_with(suffix))
                .unwrap_or_else(|| panic!("no variable {suffix} in {:?}", vars.keys()));
            let mut t = t.shallow_clone();
            t.copy_(&Tensor::from_slice(v).view(t.size().as_slice()));
        }
    });
}

#[test]
fn dissipative_field_is_j_grad_h_plus_grad_d_by_hand() {
    setup();
    let vs = nn::VarStore::new(Device::Cpu);
    let cfg = MlpConfig {
        hidden: vec![1],
        ..MlpConfig::default()
    };
    let mut m =
        DissipativeHnn::new(&(vs.root() / "dhnn"), 2, &cfg, GradientMethod::Explicit).unwrap();
    for method in [GradientMethod::Explicit, GradientMethod::Autograd] {
        m.set_gradient_method(method);
        // H(x) = 2 tanh(0.5 q - 0.25 p + 0.1), D(x) = -1 tanh(0.3 q + 0.2 p)
        set_vars(
            &vs,
            &[
                ("h.mlp.l0.weight", &[0.5, -0.25]),
                ("h.mlp.l0.bias", &[0.1]),
                ("h.mlp.l1.weight", &[2.0]),
                ("d.mlp.l0.weight", &[0.3, 0.2]),
                ("d.mlp.l0.bias", &[0.0]),
                ("d.mlp.l1.weight", &[-1.0]),
            ],
        );
        let (q, p) = (0.7f64, -0.4f64);
        let sech2 = |z: f64| 1.0 - z.tanh().powi(2);
        let zh = 0.5 * q - 0.25 * p + 0.1;
        let (hq, hp) = (2.0 * sech2(zh) * 0.5, 2.0 * sech2(zh) * -0.25);
        let zd = 0.3 * q + 0.2 * p;
        let (dq, dp) = (-sech2(zd) * 0.3, -sech2(zd) * 0.2);
        let want = [hp + dq, -hq + dp];
        let x = Tensor::from_slice(&[q as f32, p as f32]).view([1, 2]);
        let f = m.time_derivative(&x, false);
        for (i, w) in want.iter().enumerate() {
            let got = f.double_value(&[0, i as i64]);
            assert!(
                (got - w).abs() < 1e-6,
                "{method:?} component {i}: {got} vs {w}"
            );
        }
        let parts = m.field_parts(&x).unwrap();
        assert!((parts.conservative.double_value(&[0, 0]) - hp).abs() < 1e-6);
        assert!((parts.dissipative.double_value(&[0, 1]) - dp).abs() < 1e-6);
        let h = m.energy(&x).unwrap().double_value(&[0]);
        assert!((h - 2.0 * zh.tanh()).abs() < 1e-6);
        assert!((m.dissipation(&x).double_value(&[0]) + zd.tanh()).abs() < 1e-6);
        // dH/dx itself (not rotated), and the state dimension
        let g = m.energy_gradient(&x).unwrap();
        assert!((g.double_value(&[0, 0]) - hq).abs() < 1e-6);
        assert!((g.double_value(&[0, 1]) - hp).abs() < 1e-6);
        assert_eq!(m.dim(), 2);
    }
}

/// Layer widths at and just past their bounds: the widest layer and the most weights between
/// hidden layers accepted, one more refused (naming the key), an empty or non-positive list
/// refused.
#[test]
fn mlp_widths_are_bounded_exactly() {
    use hnn_models::{MAX_HIDDEN_WEIGHTS, MAX_WIDTH};
    let ok = |hidden: Vec<i64>| {
        MlpConfig {
            hidden,
            ..MlpConfig::default()
        }
        .validate()
    };
    assert!(ok(vec![MAX_WIDTH]).is_ok());
    assert!(ok(vec![MAX_WIDTH, MAX_HIDDEN_WEIGHTS / MAX_WIDTH]).is_ok());
    for bad in [
        vec![],
        vec![0],
        vec![3, -1],
        vec![MAX_WIDTH + 1],
        vec![MAX_WIDTH, MAX_HIDDEN_WEIGHTS / MAX_WIDTH + 1],
    ] {
        let e = ok(bad.clone()).unwrap_err().to_string();
        assert!(e.contains("hidden"), "{bad:?}: {e}");
    }
}

#[test]
fn dissipative_explicit_gradient_equals_autograd_in_training() {
    setup();
    tch::manual_seed(5);
    let vs = nn::VarStore::new(Device::Cpu);
    let cfg = MlpConfig {
        hidden: vec![16, 8],
        ..MlpConfig::default()
    };
    let mut m = DissipativeHnn::new(&vs.root(), 2, &cfg, GradientMethod::Explicit).unwrap();
    let x = Tensor::randn([20, 2], (Kind::Float, Device::Cpu));
    let target = Tensor::randn([20, 2], (Kind::Float, Device::Cpu));
    let grads = |m: &DissipativeHnn| {
        let loss = (m.time_derivative(&x, true) - &target)
            .square()
            .mean(Kind::Float);
        Tensor::run_backward(&[loss], &vs.trainable_variables(), false, false)
    };
    let a = grads(&m);
    m.set_gradient_method(GradientMethod::Autograd);
    let b = grads(&m);
    assert_eq!(a.len(), 10);
    for (ga, gb) in a.iter().zip(b.iter()) {
        let d = (ga - gb).abs().max().double_value(&[]);
        assert!(d < 1e-5, "weight-gradient difference {d}");
    }
}

#[test]
fn registry_builds_by_name_and_refuses_what_does_not_fit() {
    setup();
    let vs = nn::VarStore::new(Device::Cpu);
    let spec = ModelSpec::default();
    for name in ["baseline", "hnn", "dhnn"] {
        let m = build_model(name, &vs.root(), 2, &spec).unwrap();
        assert_eq!(m.name(), name);
        let has_h = m.energy(&Tensor::zeros([1, 2], (Kind::Float, Device::Cpu)));
        assert_eq!(has_h.is_some(), name != "baseline");
    }
    // checkpoint keys start with the model's name
    assert!(
        vs.variables().keys().any(|k| k.starts_with("dhnn.h.mlp")),
        "{:?}",
        vs.variables().keys()
    );
    let e = check_model("dhnn", 3).err().unwrap().to_string();
    assert!(e.contains("dhnn") && e.contains("even"), "{e}");
    let e = check_model("lstm", 2).err().unwrap().to_string();
    assert!(e.contains("lstm") && e.contains("\"hnn\""), "{e}");
}

fn assert_send<T: Send + ?Sized>() {}

#[test]
fn models_are_send() {
    assert_send::<dyn DynamicsModel>();
}

/// This test binary exports the vendor hook (the build script's link arguments), MKL asks it,
/// and on an AVX-512 CPU with the switch on MKL takes an AVX-512 branch.
#[cfg(target_os = "linux")]
#[test]
fn mkl_asks_the_exported_vendor_hook() {
    use hnn_models::cpu::{CpuFeatures, MatmulPath, Switch, VendorAnswer, hook, vendor_answer};
    assert!(
        hook::exported(),
        "the process's lookup does not find hnn's hook"
    );
    let path = MatmulPath::current();
    assert!(
        path.branch.is_some(),
        "libtorch's MKL was not found: {path:?}"
    );
    let expected = vendor_answer(CpuFeatures::detect(), Switch::from_env());
    assert_eq!(path.answer, Some(expected), "{path:?}");
    if expected == VendorAnswer::Intel {
        assert!(path.is_avx512(), "{}", path.describe());
    }
}

#[test]
fn matmul_rate_is_positive() {
    tch::set_num_threads(1);
    let r = hnn_models::cpu::matmul_gflops(16, 32, 8, 0.01);
    assert!(r.is_finite() && r > 0.0, "{r}");
}
