//! Avatar meta: title, authors and the licence terms, which a streaming tool should show the user
//! (a VRM licence may forbid e.g. commercial or violent use).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::json_util::{lenient_index, section};
use super::{Result, VrmModel};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Meta {
    pub title: Option<String>,
    pub version: Option<String>,
    pub authors: Vec<String>,
    pub contact: Option<String>,
    pub references: Vec<String>,
    /// Image index of the thumbnail.
    pub thumbnail_image: Option<usize>,
    pub license: License,
}

/// The licence fields as each spec version writes them (snake_case keys in JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(tag = "spec", rename_all = "snake_case")]
pub enum License {
    /// Plain glTF: no licence information.
    #[default]
    None,
    /// VRM 0.x `meta`.
    #[serde(rename = "0.0")]
    V0 {
        license_name: Option<String>,
        other_license_url: Option<String>,
        allowed_user_name: Option<String>,
        violent_usage: Option<String>,
        sexual_usage: Option<String>,
        commercial_usage: Option<String>,
        other_permission_url: Option<String>,
    },
    /// VRM 1.0 `meta`; missing values take the schema's defaults.
    #[serde(rename = "1.0")]
    V1 {
        license_url: String,
        avatar_permission: String,
        allow_excessively_violent_usage: bool,
        allow_excessively_sexual_usage: bool,
        commercial_usage: String,
        allow_political_or_religious_usage: bool,
        allow_antisocial_or_hate_usage: bool,
        credit_notation: String,
        allow_redistribution: bool,
        modification: String,
        other_license_url: Option<String>,
        copyright_information: Option<String>,
        third_party_licenses: Option<String>,
    },
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty())
}

pub(crate) fn parse_v1(value: Option<&Value>) -> Result<Meta> {
    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct Json {
        name: Option<String>,
        version: Option<String>,
        authors: Vec<String>,
        copyright_information: Option<String>,
        contact_information: Option<String>,
        references: Vec<String>,
        third_party_licenses: Option<String>,
        thumbnail_image: Option<usize>,
        license_url: String,
        avatar_permission: Option<String>,
        allow_excessively_violent_usage: bool,
        allow_excessively_sexual_usage: bool,
        commercial_usage: Option<String>,
        allow_political_or_religious_usage: bool,
        allow_antisocial_or_hate_usage: bool,
        credit_notation: Option<String>,
        allow_redistribution: bool,
        modification: Option<String>,
        other_license_url: Option<String>,
    }
    let j: Json = section(value, "VRMC_vrm.meta")?;
    Ok(Meta {
        title: non_empty(j.name),
        version: non_empty(j.version),
        authors: j.authors,
        contact: non_empty(j.contact_information),
        references: j.references,
        thumbnail_image: j.thumbnail_image,
        license: License::V1 {
            license_url: j.license_url,
            avatar_permission: j.avatar_permission.unwrap_or_else(|| "onlyAuthor".into()),
            allow_excessively_violent_usage: j.allow_excessively_violent_usage,
            allow_excessively_sexual_usage: j.allow_excessively_sexual_usage,
            commercial_usage: j
                .commercial_usage
                .unwrap_or_else(|| "personalNonProfit".into()),
            allow_political_or_religious_usage: j.allow_political_or_religious_usage,
            allow_antisocial_or_hate_usage: j.allow_antisocial_or_hate_usage,
            credit_notation: j.credit_notation.unwrap_or_else(|| "required".into()),
            allow_redistribution: j.allow_redistribution,
            modification: j.modification.unwrap_or_else(|| "prohibited".into()),
            other_license_url: non_empty(j.other_license_url),
            copyright_information: non_empty(j.copyright_information),
            third_party_licenses: non_empty(j.third_party_licenses),
        },
    })
}

pub(crate) fn parse_v0(value: Option<&Value>, model: &VrmModel) -> Result<Meta> {
    // The 0.x schema's own spelling ("Ussage").
    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct Json {
        title: Option<String>,
        version: Option<String>,
        author: Option<String>,
        contact_information: Option<String>,
        reference: Option<String>,
        #[serde(deserialize_with = "lenient_index")]
        texture: Option<usize>,
        allowed_user_name: Option<String>,
        violent_ussage_name: Option<String>,
        sexual_ussage_name: Option<String>,
        commercial_ussage_name: Option<String>,
        other_permission_url: Option<String>,
        license_name: Option<String>,
        other_license_url: Option<String>,
    }
    let j: Json = section(value, "VRM.meta")?;
    Ok(Meta {
        title: non_empty(j.title),
        version: non_empty(j.version),
        authors: non_empty(j.author).into_iter().collect(),
        contact: non_empty(j.contact_information),
        references: non_empty(j.reference).into_iter().collect(),
        // 0.x names a texture; the thumbnail is its image.
        thumbnail_image: j
            .texture
            .and_then(|t| model.textures.get(t))
            .map(|t| t.image),
        license: License::V0 {
            license_name: non_empty(j.license_name),
            other_license_url: non_empty(j.other_license_url),
            allowed_user_name: non_empty(j.allowed_user_name),
            violent_usage: non_empty(j.violent_ussage_name),
            sexual_usage: non_empty(j.sexual_ussage_name),
            commercial_usage: non_empty(j.commercial_ussage_name),
            other_permission_url: non_empty(j.other_permission_url),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn vrm1_defaults_are_the_strict_ones() {
        let m = parse_v1(Some(
            &json!({"name": "A", "authors": ["x"], "licenseUrl": "u"}),
        ))
        .unwrap();
        assert_eq!(m.title.as_deref(), Some("A"));
        let License::V1 {
            avatar_permission,
            commercial_usage,
            modification,
            allow_redistribution,
            ..
        } = m.license
        else {
            panic!("not V1");
        };
        assert_eq!(avatar_permission, "onlyAuthor");
        assert_eq!(commercial_usage, "personalNonProfit");
        assert_eq!(modification, "prohibited");
        assert!(!allow_redistribution);
    }

    #[test]
    fn licence_serializes_with_its_spec() {
        let l = License::V0 {
            license_name: Some("CC0".into()),
            other_license_url: None,
            allowed_user_name: None,
            violent_usage: None,
            sexual_usage: None,
            commercial_usage: Some("Allow".into()),
            other_permission_url: None,
        };
        let v = serde_json::to_value(&l).unwrap();
        assert_eq!(v["spec"], "0.0");
        assert_eq!(v["license_name"], "CC0");
        assert_eq!(serde_json::to_value(License::None).unwrap()["spec"], "none");
    }
}
