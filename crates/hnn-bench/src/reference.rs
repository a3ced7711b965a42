//! The paper's published numbers and the official implementation's measured cost on this
//! machine (REFERENCE.md sections 1 and 7), printed beside ours.

use serde::Serialize;

/// Baseline / HNN values of one Table 1 row.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PaperRow {
    pub train_loss: [f64; 2],
    pub test_loss: [f64; 2],
    pub energy_mse: [f64; 2],
    pub energy_mse_se: [f64; 2],
}

/// Wall seconds of the official code's stages on a 2-core CPU like ours.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct OfficialCost {
    pub data: f64,
    pub train_baseline: f64,
    pub train_hnn: f64,
    pub eval: f64,
}

/// Reference values for a system, if the paper has the task.
pub fn for_system(system: &str) -> Option<(PaperRow, OfficialCost)> {
    match system {
        "mass-spring" => Some((
            PaperRow {
                train_loss: [3.7134e-2, 3.6933e-2],
                test_loss: [3.6656e-2, 3.5928e-2],
                energy_mse: [1.7077e-1, 3.8416e-4],
                energy_mse_se: [2.1e-2, 6.5e-5],
            },
            OfficialCost {
                data: 3.5,
                train_baseline: 44.0,
                train_hnn: 51.0,
                eval: 30.0,
            },
        )),
        "pendulum" => Some((
            PaperRow {
                train_loss: [3.2606e-2, 3.2787e-2],
                test_loss: [3.5273e-2, 3.5586e-2],
                energy_mse: [4.1519e-2, 2.4852e-2],
                energy_mse_se: [9.6e-3, 5.4e-3],
            },
            OfficialCost {
                data: 4.2,
                train_baseline: 31.0,
                train_hnn: 65.0,
                eval: 21.0,
            },
        )),
        "two-body" => Some((
            PaperRow {
                train_loss: [3.2682e-5, 2.9959e-6],
                test_loss: [2.9575e-5, 2.8218e-6],
                energy_mse: [6.3276e-2, 3.8751e-5],
                energy_mse_se: [3.4e-2, 5.0e-6],
            },
            OfficialCost {
                data: 22.0,
                train_baseline: 53.0,
                train_hnn: 70.0, // measured 41-98 s
                eval: 3.2,
            },
        )),
        "three-body" => Some((
            PaperRow {
                train_loss: [9.5573e-2, 8.0346e-2],
                test_loss: [3.8000e-1, 4.8809e-1],
                energy_mse: [1.0906e2, 4.1926e-2],
                energy_mse_se: [77.0, 3.4e-2],
            },
            OfficialCost {
                data: 34.0,
                train_baseline: 114.0,
                train_hnn: 179.0,
                eval: 6.7,
            },
        )),
        _ => None,
    }
}
