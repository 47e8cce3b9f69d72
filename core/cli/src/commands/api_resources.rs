//! `skiff api-resources`: the resource types the server serves, as kubectl lists them.

use crate::client::{Cluster, Context};
use crate::printer;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Only resources of this API group (`""` for the core group).
    #[arg(long)]
    pub api_group: Option<String>,
    /// Only namespaced (`true`) or cluster-scoped (`false`) resources.
    #[arg(long)]
    pub namespaced: Option<bool>,
}

pub async fn run(ctx: &Context, args: Args) -> anyhow::Result<()> {
    let cluster = Cluster::connect(ctx).await?;
    let mut resources: Vec<_> = cluster
        .registry
        .all()
        .iter()
        .filter(|r| args.api_group.as_ref().is_none_or(|g| &r.group == g))
        .filter(|r| args.namespaced.is_none_or(|n| r.namespaced() == n))
        .collect();
    resources.sort_by(|a, b| (&a.group, &a.plural).cmp(&(&b.group, &b.plural)));
    let mut lines = vec![vec![
        "NAME".to_string(),
        "SHORTNAMES".into(),
        "APIVERSION".into(),
        "NAMESPACED".into(),
        "KIND".into(),
    ]];
    for r in resources {
        lines.push(vec![
            r.plural.clone(),
            r.short_names.join(","),
            r.api_version(),
            r.namespaced().to_string(),
            r.kind.clone(),
        ]);
    }
    print!("{}", printer::align(&lines));
    Ok(())
}
