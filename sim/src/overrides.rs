//! `sim --set section.field=value`: a scenario's settings replaced from the command line, to
//! run one scenario with a mechanism turned off or a bug-provoking setting, without a copy of
//! its file (for example `--set cluster.hinted_handoff=false`).

use serde_yaml_ng::Value;

/// Sets each `section.field=value` (the value read as YAML) in the scenario document `doc`,
/// creating sections that are missing. The scenario's own checks run afterwards.
pub fn apply(doc: &mut Value, sets: &[String]) -> Result<(), String> {
    for set in sets {
        let (path, value) = set
            .split_once('=')
            .ok_or_else(|| format!("--set {set:?}: expected section.field=value"))?;
        let value: Value = serde_yaml_ng::from_str(value)
            .map_err(|e| format!("--set {set:?}: the value is not YAML: {e}"))?;
        let parts: Vec<&str> = path.split('.').collect();
        let (last, sections) = parts.split_last().expect("split yields one part at least");
        let mut at = &mut *doc;
        for part in sections {
            let Value::Mapping(map) = at else {
                return Err(format!("--set {set:?}: {path} is not inside a section"));
            };
            at = map
                .entry(Value::String((*part).to_string()))
                .or_insert_with(|| Value::Mapping(Default::default()));
        }
        let Value::Mapping(map) = at else {
            return Err(format!("--set {set:?}: {path} is not inside a section"));
        };
        map.insert(Value::String((*last).to_string()), value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setting_is_replaced_and_a_bad_one_is_explained() {
        let mut doc: Value = serde_yaml_ng::from_str("cluster:\n  nodes: 3\n").unwrap();
        let sets = [
            "cluster.hinted_handoff=false".to_string(),
            "faults.max_down=2".to_string(),
        ];
        apply(&mut doc, &sets).unwrap();
        assert_eq!(doc["cluster"]["hinted_handoff"], Value::Bool(false));
        assert_eq!(doc["faults"]["max_down"], Value::from(2));
        let err = apply(&mut doc, &["cluster.nodes.x=1".to_string()]).unwrap_err();
        assert!(err.contains("not inside a section"), "{err}");
        assert!(apply(&mut doc, &["nonsense".to_string()]).is_err());
    }
}
