use serde::{Deserialize, Serialize};
use tch::Device;

use crate::{ModelError, Result};

/// Where to run: `"auto"` (CUDA if available, else CPU), `"cpu"`, `"cuda"` or `"cuda:N"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DeviceChoice {
    Auto,
    Cpu,
    Cuda(usize),
}

impl TryFrom<String> for DeviceChoice {
    type Error = ModelError;
    fn try_from(s: String) -> Result<Self> {
        match s.as_str() {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda(0)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Self::Cuda)
                .ok_or_else(|| ModelError::UnknownDevice(s.clone())),
        }
    }
}

impl From<DeviceChoice> for String {
    fn from(d: DeviceChoice) -> String {
        match d {
            DeviceChoice::Auto => "auto".into(),
            DeviceChoice::Cpu => "cpu".into(),
            DeviceChoice::Cuda(n) => format!("cuda:{n}"),
        }
    }
}

/// Resolves a choice to a libtorch device; an explicit CUDA request fails when CUDA is absent.
pub fn resolve_device(choice: &DeviceChoice) -> Result<Device> {
    match choice {
        DeviceChoice::Auto => Ok(Device::cuda_if_available()),
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Cuda(n) => {
            if tch::Cuda::is_available() && *n < tch::Cuda::device_count() as usize {
                Ok(Device::Cuda(*n))
            } else {
                Err(ModelError::CudaUnavailable {
                    requested: String::from(choice.clone()),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_device_strings() {
        assert_eq!(
            DeviceChoice::try_from("auto".to_string()).unwrap(),
            DeviceChoice::Auto
        );
        assert_eq!(
            DeviceChoice::try_from("cuda:1".to_string()).unwrap(),
            DeviceChoice::Cuda(1)
        );
        assert!(DeviceChoice::try_from("gpu".to_string()).is_err());
        assert_eq!(resolve_device(&DeviceChoice::Cpu).unwrap(), Device::Cpu);
    }
}
