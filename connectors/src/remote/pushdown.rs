//! What may be pushed into a database, and the optimizer rule that pushes
//! only that.
//!
//! datafusion-federation hands a source the largest sub-plan over its
//! tables, whatever is in it; the unparser then writes SQL the database may
//! reject (DataFusion-only functions) or, worse, run with other semantics
//! (MySQL's `/` on integers, `||` as OR, locale-dependent `upper`, numeric
//! scales). Each source's federation provider here uses [`GuardedFederation`]
//! instead: a sub-plan is pushed whole only if every node and expression in
//! it is on its dialect's list; otherwise the node that is not stays in
//! DataFusion and its inputs are tried one by one. The lists are what the
//! differential tests (tests/federation/differential.sql) prove equal.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, NullEquality, Result};
use datafusion::logical_expr::TableScanBuilder;
use datafusion::logical_expr::expr::{AggregateFunction, WindowFunction, WindowFunctionDefinition};
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{
    BinaryExpr, Expr, ExprSchemable, Extension, JoinType, LogicalPlan, LogicalPlanBuilder,
    Operator, Sort,
};
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};
use datafusion_federation::FederatedPlanNode;
use datafusion_federation::sql::SQLFederationPlanner;

use super::DatabaseKind;

/// Functions whose results the database computes exactly as DataFusion.
const POSTGRES_FUNCTIONS: &[&str] = &[
    "abs",
    "coalesce",
    "nullif",
    "length",
    "character_length",
    "char_length",
    "substr",
    "substring",
    "btrim",
    "ltrim",
    "rtrim",
    "replace",
    "strpos",
    "starts_with",
    "concat",
    "date_part",
    "ceil",
    "floor",
    "sqrt",
];
/// What MySQL, SQL Server and Oracle compute as DataFusion does.
const COMMON_FUNCTIONS: &[&str] = &["abs", "coalesce", "nullif"];

const POSTGRES_AGGREGATES: &[&str] = &["count", "sum", "min", "max", "avg"];
const COMMON_AGGREGATES: &[&str] = &["count", "sum", "min", "max"];
/// `avg` only over floats: SQL Server averages integers in integers and
/// decimals at its own scale (see `mssql::policy`).
const MSSQL_AGGREGATES: &[&str] = &["count", "sum", "min", "max", "avg"];
/// `date_part` becomes DATEPART for the parts in `mssql::dialect::DATE_PARTS`.
const MSSQL_FUNCTIONS: &[&str] = &["abs", "coalesce", "nullif", "date_part"];

const POSTGRES_WINDOWS: &[&str] = &[
    "row_number",
    "rank",
    "dense_rank",
    "lag",
    "lead",
    "first_value",
    "last_value",
    "count",
    "sum",
    "min",
    "max",
];

#[derive(Debug, Clone, Copy)]
pub(crate) struct PushdownPolicy {
    pub kind: DatabaseKind,
    /// The database orders text by bytes, as DataFusion does (PostgreSQL
    /// with the `C` collation). Otherwise text sorts, range comparisons and
    /// min/max stay local.
    pub bytewise_text: bool,
}

impl PushdownPolicy {
    /// Whether `plan`, with everything below it, can run in the database.
    pub fn allows(&self, plan: &LogicalPlan) -> bool {
        every(plan, |node| self.allows_node(node))
    }

    fn allows_node(&self, node: &LogicalPlan) -> bool {
        // A NULL-typed column comes back from the database as text.
        if node
            .schema()
            .fields()
            .iter()
            .any(|f| f.data_type() == &DataType::Null)
        {
            return false;
        }
        let shape_ok = match node {
            // The unparser writes a filter on a limited input into the outer
            // query, under the inner table's name (regression: differential
            // query `… LIMIT 20) AS t WHERE qty > 3`).
            LogicalPlan::Filter(filter) => !matches!(
                filter.input.as_ref(),
                LogicalPlan::Limit(_) | LogicalPlan::Sort(Sort { fetch: Some(_), .. })
            ),
            // An alias over a filtered alias loses the inner name in SQL
            // (regression: differential query `WHERE EXISTS (… AND o.amount = 0)`).
            LogicalPlan::SubqueryAlias(alias) => !filters_an_alias(&alias.input),
            // An offset over a sort or scan that already has the limit
            // folded in (`fetch = skip + limit`) is unparsed with that
            // fetch as the LIMIT: `LIMIT 15 OFFSET 10` for `LIMIT 5 OFFSET
            // 10` (DataFusion 55). The offset stays local over the pushed
            // `LIMIT 15`.
            LogicalPlan::Limit(limit) => !offset_over_fetch(limit),
            LogicalPlan::TableScan(_)
            | LogicalPlan::Projection(_)
            | LogicalPlan::Sort(_)
            | LogicalPlan::Union(_) => true,
            LogicalPlan::Aggregate(aggregate) => {
                // DISTINCT over computed values loses its column names in SQL
                // (regression: differential query `SELECT DISTINCT qty % 3`).
                let computed_input = match aggregate.input.as_ref() {
                    LogicalPlan::Projection(projection) => projection
                        .expr
                        .iter()
                        .any(|e| !matches!(e.clone().unalias(), Expr::Column(_))),
                    _ => false,
                };
                !aggregate.aggr_expr.is_empty()
                    || (!computed_input
                        && aggregate
                            .group_expr
                            .iter()
                            .all(|e| matches!(e, Expr::Column(_))))
            }
            LogicalPlan::Distinct(_) => true,
            LogicalPlan::Join(join) => {
                // INTERSECT and EXCEPT become joins where NULL equals NULL,
                // which the SQL written for them does not preserve.
                join.null_equality == NullEquality::NullEqualsNothing
                    && !join.null_aware
                    && match self.kind {
                        DatabaseKind::Postgres | DatabaseKind::Mssql | DatabaseKind::Oracle => true,
                        DatabaseKind::Mysql => !matches!(join.join_type, JoinType::Full),
                    }
            }
            LogicalPlan::Window(_) => self.kind == DatabaseKind::Postgres,
            _ => false,
        };
        if !shape_ok {
            return false;
        }
        // Expressions are typed against what they read: both sides of a join
        // (a semi join outputs only one), the input of anything else.
        let joined;
        let schema = match node {
            LogicalPlan::Join(join) => match join.left.schema().join(join.right.schema()) {
                Ok(both) => {
                    joined = both;
                    &joined
                }
                Err(_) => return false,
            },
            _ => node
                .inputs()
                .first()
                .map(|i| i.schema().as_ref())
                .unwrap_or(node.schema().as_ref()),
        };
        // MySQL and SQL Server alike compare text by collation and sort
        // NULLs first.
        if self.kind != DatabaseKind::Postgres && !mysql_allows_node(node, schema) {
            return false;
        }
        let own_rules = match self.kind {
            DatabaseKind::Mssql => super::mssql::policy::allows_node(node, schema),
            DatabaseKind::Oracle => super::oracle::policy::allows_node(node, schema),
            DatabaseKind::Postgres | DatabaseKind::Mysql => true,
        };
        if !own_rules {
            return false;
        }
        if !self.bytewise_text && !orders_no_text(node, schema) {
            return false;
        }
        let mut exprs_ok = true;
        // Filters pushed into a scan are part of the statement too.
        if let LogicalPlan::TableScan(scan) = node {
            let scanned = scan.projected_schema.as_ref();
            let table =
                DFSchema::try_from_qualified_schema(scan.table_name.clone(), &scan.source.schema());
            let table = table.as_ref().unwrap_or(scanned);
            if !scan.filters.iter().all(|f| self.allows_expr(f, table)) {
                return false;
            }
        }
        let _ = node.apply_expressions(|expr| {
            if !self.allows_expr(expr, schema) {
                exprs_ok = false;
                return Ok(TreeNodeRecursion::Stop);
            }
            Ok(TreeNodeRecursion::Continue)
        });
        exprs_ok
    }

    fn allows_expr(&self, expr: &Expr, schema: &DFSchema) -> bool {
        every(expr, |e| self.allows_one(e, schema))
    }

    /// One expression node, its children aside.
    fn allows_one(&self, expr: &Expr, schema: &DFSchema) -> bool {
        let postgres = self.kind == DatabaseKind::Postgres;
        let own_rules = match self.kind {
            DatabaseKind::Mssql => super::mssql::policy::allows_expr(expr, schema),
            DatabaseKind::Oracle => super::oracle::policy::allows_expr(expr, schema),
            DatabaseKind::Postgres | DatabaseKind::Mysql => true,
        };
        if !own_rules {
            return false;
        }
        // MySQL's zero dates ('0000-00-00') are NULL here but not there.
        let zero_dates = self.kind == DatabaseKind::Mysql;
        match expr {
            Expr::Column(_) | Expr::Alias(_) => true,
            // sqlparser prints a quote after a backslash, or two quotes in a
            // row, as if already escaped: such text would end the literal
            // early at the source, changing the result or injecting SQL
            // (regression: parameter value `x\' OR 1=1 -- `).
            Expr::Literal(value, _)
                if value
                    .try_as_str()
                    .flatten()
                    .is_some_and(|s| s.contains("\\'") || s.contains("''")) =>
            {
                false
            }
            Expr::Literal(value, _) => {
                if postgres {
                    // Unparsed as X'…', which PostgreSQL reads as a bit
                    // string (regression: `c_bytea = '\xdeadbeef'::bytea`).
                    !matches!(
                        value.data_type(),
                        DataType::Binary | DataType::LargeBinary | DataType::BinaryView
                    )
                } else {
                    // MySQL reads a backslash in a literal as an escape, and
                    // the MySQL provider deletes every `"` from the statement
                    // (regression: differential query `'big "one"'`).
                    !value
                        .try_as_str()
                        .flatten()
                        .is_some_and(|s| s.contains(['\\', '"']))
                }
            }
            // MySQL's zero dates ('0000-00-00') are NULL here but not there
            // (regression: `c_zero_date IS NULL`).
            Expr::IsNull(inner) | Expr::IsNotNull(inner) => {
                !zero_dates || !mentions_temporal(inner, schema)
            }
            Expr::Not(inner) => !zero_dates || !mentions_temporal(inner, schema),
            Expr::IsTrue(_)
            | Expr::IsFalse(_)
            | Expr::IsNotTrue(_)
            | Expr::IsNotFalse(_)
            | Expr::Negative(_) => true,
            Expr::Between(between) if !self.bytewise_text && is_text(&between.expr, schema) => {
                false
            }
            Expr::Between(between) => {
                postgres
                    || !(is_text(&between.expr, schema)
                        || zero_dates
                            && between.negated
                            && mentions_temporal(&between.expr, schema))
            }
            Expr::InList(list) => {
                postgres
                    || !(is_text(&list.expr, schema)
                        || zero_dates && list.negated && mentions_temporal(&list.expr, schema))
            }
            Expr::Case(case) => postgres || !case.expr.as_ref().is_some_and(|e| is_text(e, schema)),
            Expr::BinaryExpr(BinaryExpr { left, op, right })
                if !self.bytewise_text
                    && is_range_comparison(*op)
                    && (is_text(left, schema) || is_text(right, schema)) =>
            {
                false
            }
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                self.allows_operator(*op)
                    && (postgres
                        || (!(is_comparison(*op)
                            && (is_text(left, schema) || is_text(right, schema)))
                            && (!zero_dates || zero_dates_agree(left, *op, right, schema))))
            }
            Expr::Like(like) => {
                if !postgres {
                    // Collations decide case and trailing spaces in MySQL.
                    return false;
                }
                if !like.case_insensitive {
                    return true;
                }
                // ILIKE folds case by the database's locale: ASCII only is safe.
                matches!(like.pattern.as_ref(), Expr::Literal(value, _)
                    if value.try_as_str().flatten().is_some_and(str::is_ascii))
            }
            Expr::Cast(cast) => {
                let from = cast.expr.get_type(schema).unwrap_or(DataType::Null);
                let to = cast.field.data_type();
                // MySQL has no BIGINT UNSIGNED cast target (regression:
                // `sum(c_int_unsigned)`).
                allows_cast(&from, to) && (postgres || !to.is_unsigned_integer())
            }
            Expr::ScalarFunction(function) => {
                let names = match self.kind {
                    DatabaseKind::Postgres => POSTGRES_FUNCTIONS,
                    DatabaseKind::Mysql | DatabaseKind::Oracle => COMMON_FUNCTIONS,
                    DatabaseKind::Mssql => MSSQL_FUNCTIONS,
                };
                let name = function.name();
                // date_part on timestamptz depends on the session time zone;
                // MySQL's coalesce and friends see zero dates as dates.
                let time_dependent = function.args.iter().any(|a| match self.kind {
                    DatabaseKind::Postgres | DatabaseKind::Mssql | DatabaseKind::Oracle => {
                        name == "date_part"
                            && matches!(a.get_type(schema), Ok(DataType::Timestamp(_, Some(_))))
                    }
                    DatabaseKind::Mysql => mentions_temporal(a, schema),
                });
                names.contains(&name) && !time_dependent
            }
            Expr::AggregateFunction(AggregateFunction { func, params }) => {
                let names = match self.kind {
                    DatabaseKind::Postgres => POSTGRES_AGGREGATES,
                    DatabaseKind::Mysql | DatabaseKind::Oracle => COMMON_AGGREGATES,
                    DatabaseKind::Mssql => MSSQL_AGGREGATES,
                };
                let name = func.name();
                let decimal_avg = name == "avg"
                    && params.args.iter().any(|a| {
                        matches!(
                            a.get_type(schema),
                            Ok(DataType::Decimal128(..) | DataType::Decimal256(..))
                        )
                    });
                let collated_extreme = !self.bytewise_text
                    && matches!(name, "min" | "max")
                    && params.args.iter().any(|a| is_text(a, schema));
                let mysql_unlike = !postgres
                    && params.args.iter().any(|a| {
                        // Collations decide text extremes and which texts
                        // are distinct; a zero date is counted and is the
                        // minimum there, NULL here.
                        matches!(name, "min" | "max") && is_text(a, schema)
                            || params.distinct && is_text(a, schema)
                            || zero_dates
                                && matches!(name, "min" | "count")
                                && mentions_temporal(a, schema)
                    });
                names.contains(&name)
                    && !collated_extreme
                    && !mysql_unlike
                    && params.filter.is_none()
                    && params.order_by.is_empty()
                    && !decimal_avg
            }
            Expr::WindowFunction(window) => postgres && allows_window(window),
            _ => false,
        }
    }

    fn allows_operator(&self, op: Operator) -> bool {
        use Operator as O;
        if matches!(op, O::IsDistinctFrom | O::IsNotDistinctFrom) {
            // MySQL spells them <=>; the unparser does not.
            return self.kind == DatabaseKind::Postgres;
        }
        if is_comparison(op) {
            return true;
        }
        match op {
            O::And | O::Or | O::Plus | O::Minus | O::Multiply | O::Modulo => true,
            // MySQL: `/` on integers gives a decimal, `||` is OR. SQL
            // Server divides integers as DataFusion does (decimals: see
            // `mssql::policy`) and has no `||`.
            O::Divide => self.kind != DatabaseKind::Mysql,
            O::StringConcat => self.kind == DatabaseKind::Postgres,
            _ => false,
        }
    }
}

fn offset_over_fetch(limit: &datafusion::logical_expr::Limit) -> bool {
    let skips = !matches!(
        limit.get_skip_type(),
        Ok(datafusion::logical_expr::SkipType::Literal(0))
    );
    let mut input = limit.input.as_ref();
    while let LogicalPlan::Projection(projection) = input {
        input = projection.input.as_ref();
    }
    skips
        && matches!(
            input,
            LogicalPlan::Sort(Sort { fetch: Some(_), .. })
                | LogicalPlan::TableScan(datafusion::logical_expr::TableScan {
                    fetch: Some(_),
                    ..
                })
        )
}

/// `Projection`s and `Filter`s down to another alias, with a filter among them.
fn filters_an_alias(plan: &LogicalPlan) -> bool {
    let mut filtered = false;
    let mut node = plan;
    loop {
        match node {
            LogicalPlan::Projection(projection) => node = projection.input.as_ref(),
            LogicalPlan::Filter(filter) => {
                filtered = true;
                node = filter.input.as_ref();
            }
            LogicalPlan::SubqueryAlias(_) => return filtered,
            _ => return false,
        }
    }
}

fn is_range_comparison(op: Operator) -> bool {
    matches!(
        op,
        Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq
    )
}

/// No sort, window order or ORDER BY inside an aggregate is on text: where
/// the database's collation is not bytewise, text orders differ
/// (`'B' < 'a'` in DataFusion, not in `en_US`).
fn orders_no_text(node: &LogicalPlan, schema: &DFSchema) -> bool {
    match node {
        LogicalPlan::Sort(sort) => !sort.expr.iter().any(|s| is_text(&s.expr, schema)),
        LogicalPlan::Window(window) => window.window_expr.iter().all(|e| {
            every(e, |inner| match inner {
                Expr::WindowFunction(w) => {
                    !w.params.order_by.iter().any(|s| is_text(&s.expr, schema))
                }
                _ => true,
            })
        }),
        _ => true,
    }
}

fn is_comparison(op: Operator) -> bool {
    use Operator as O;
    matches!(
        op,
        O::Eq
            | O::NotEq
            | O::Lt
            | O::LtEq
            | O::Gt
            | O::GtEq
            | O::IsDistinctFrom
            | O::IsNotDistinctFrom
    )
}

fn is_temporal(expr: &Expr, schema: &DFSchema) -> bool {
    matches!(
        expr.get_type(schema),
        Ok(DataType::Date32 | DataType::Date64 | DataType::Timestamp(..)) | Err(_)
    )
}

fn mentions_temporal(expr: &Expr, schema: &DFSchema) -> bool {
    !every(expr, |e| {
        !(matches!(e, Expr::Column(_)) && is_temporal(e, schema))
    })
}

/// Whether `check` holds for every node of `tree`.
pub(crate) fn every<N: TreeNode>(tree: &N, mut check: impl FnMut(&N) -> bool) -> bool {
    let mut holds = true;
    let _ = tree.apply(|node| {
        if check(node) {
            Ok(TreeNodeRecursion::Continue)
        } else {
            holds = false;
            Ok(TreeNodeRecursion::Stop)
        }
    });
    holds
}

/// A MySQL zero date is below every date and not NULL there, NULL here: a
/// comparison may be pushed only where both make it false, that is where
/// the date must be greater than (or equal to) something.
fn zero_dates_agree(left: &Expr, op: Operator, right: &Expr, schema: &DFSchema) -> bool {
    use Operator as O;
    if !is_comparison(op) {
        return true;
    }
    match (
        mentions_temporal(left, schema),
        mentions_temporal(right, schema),
    ) {
        (false, false) => true,
        (true, false) => matches!(op, O::Eq | O::Gt | O::GtEq),
        (false, true) => matches!(op, O::Eq | O::Lt | O::LtEq),
        (true, true) => false,
    }
}

pub(crate) fn is_text(expr: &Expr, schema: &DFSchema) -> bool {
    matches!(
        expr.get_type(schema),
        Ok(DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) | Err(_)
    )
}

/// MySQL compares, groups and sorts text by collation (case-insensitive by
/// default, trailing spaces ignored: `'a' = 'a '`), where DataFusion
/// compares bytes; and it sorts NULLs first ascending, last descending,
/// whatever the query says. Plans that depend on either stay local
/// (regressions: differential queries `name = 'trailing space'`,
/// `ORDER BY qty NULLS LAST, id`, `ORDER BY name, id`).
fn mysql_allows_node(node: &LogicalPlan, schema: &DFSchema) -> bool {
    match node {
        LogicalPlan::Sort(sort) => sort.expr.iter().all(|s| {
            let nullable = s.expr.nullable(schema).unwrap_or(true);
            !is_text(&s.expr, schema) && (!nullable || s.nulls_first == s.asc)
        }),
        LogicalPlan::Aggregate(aggregate) => {
            !aggregate.group_expr.iter().any(|e| is_text(e, schema))
        }
        LogicalPlan::Distinct(_) => !node.schema().fields().iter().any(|f| {
            matches!(
                f.data_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            )
        }),
        LogicalPlan::Join(join) => !join
            .on
            .iter()
            .any(|(l, r)| is_text(l, schema) || is_text(r, schema)),
        _ => true,
    }
}

fn allows_window(window: &WindowFunction) -> bool {
    let name = match &window.fun {
        WindowFunctionDefinition::AggregateUDF(udf) => udf.name(),
        WindowFunctionDefinition::WindowUDF(udf) => udf.name(),
    };
    POSTGRES_WINDOWS.contains(&name) && window.params.filter.is_none()
}

/// Casts whose results do not depend on text formatting or time zones.
fn allows_cast(from: &DataType, to: &DataType) -> bool {
    let exact = |t: &DataType| {
        t.is_integer()
            || matches!(
                t,
                DataType::Decimal128(..) | DataType::Decimal256(..) | DataType::Date32
            )
    };
    let float = |t: &DataType| t.is_floating();
    (exact(from) && (exact(to) || float(to))) || (float(from) && float(to))
}

/// The federation provider's rule: wraps the largest allowed sub-plans of
/// what it is given for the database, leaving the rest to DataFusion.
#[derive(Debug)]
pub(crate) struct GuardedFederation {
    pub planner: Arc<SQLFederationPlanner>,
    pub policy: PushdownPolicy,
}

impl GuardedFederation {
    /// Takes the filters the policy refuses out of the scans (filter
    /// pushdown may have put them there) and puts them back above.
    fn keep_refused_filters_local(&self, plan: LogicalPlan) -> Result<LogicalPlan> {
        plan.transform_up(|node| {
            let LogicalPlan::TableScan(scan) = &node else {
                return Ok(Transformed::no(node));
            };
            let table = DFSchema::try_from_qualified_schema(
                scan.table_name.clone(),
                &scan.source.schema(),
            )?;
            let (allowed, refused): (Vec<Expr>, Vec<Expr>) = scan
                .filters
                .iter()
                .cloned()
                .partition(|f| self.policy.allows_expr(f, &table));
            if refused.is_empty() {
                return Ok(Transformed::no(node));
            }
            let columns: Vec<Expr> = scan
                .projected_schema
                .columns()
                .into_iter()
                .map(Expr::Column)
                .collect();
            let all_columns = TableScanBuilder::new(scan.table_name.clone(), scan.source.clone())
                .with_filters(allowed)
                .build()?;
            let mut builder = LogicalPlanBuilder::from(LogicalPlan::TableScan(all_columns));
            if let Some(predicate) = conjunction(refused) {
                builder = builder.filter(predicate)?;
            }
            if let Some(fetch) = scan.fetch {
                builder = builder.limit(0, Some(fetch))?;
            }
            Ok(Transformed::yes(builder.project(columns)?.build()?))
        })
        .map(|t| t.data)
    }

    fn federate(&self, plan: LogicalPlan, is_root: bool) -> Result<LogicalPlan> {
        // An alias alone has no SELECT list of its own; push what is under it
        // (regression: differential query `WHERE EXISTS (…)` on MySQL).
        let bare_alias = !is_root && matches!(plan, LogicalPlan::SubqueryAlias(_));
        if !bare_alias && self.policy.allows(&plan) {
            // Below a node kept local, the pushed part must be a SELECT
            // with its own column list for the unparser.
            let plan = if is_root || matches!(plan, LogicalPlan::Projection(_)) {
                plan
            } else {
                let columns = plan.schema().columns().into_iter().map(Expr::Column);
                LogicalPlanBuilder::from(plan).project(columns)?.build()?
            };
            let node = FederatedPlanNode::new(plan, self.planner.clone());
            return Ok(LogicalPlan::Extension(Extension {
                node: Arc::new(node),
            }));
        }
        let inputs = plan
            .inputs()
            .into_iter()
            .map(|input| self.federate(input.clone(), false))
            .collect::<Result<Vec<_>>>()?;
        plan.with_new_exprs(plan.expressions(), inputs)
    }
}

impl OptimizerRule for GuardedFederation {
    fn name(&self) -> &str {
        "tributary_guarded_federation"
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        if let LogicalPlan::Extension(Extension { node }) = &plan
            && node.name() == "Federated"
        {
            return Ok(Transformed::no(plan));
        }
        let plan = self.keep_refused_filters_local(plan)?;
        Ok(Transformed::yes(self.federate(plan, true)?))
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::logical_expr::{col, lit, table_scan};

    use super::*;

    const POSTGRES: PushdownPolicy = PushdownPolicy {
        kind: DatabaseKind::Postgres,
        bytewise_text: true,
    };
    const POSTGRES_EN_US: PushdownPolicy = PushdownPolicy {
        kind: DatabaseKind::Postgres,
        bytewise_text: false,
    };
    const MYSQL: PushdownPolicy = PushdownPolicy {
        kind: DatabaseKind::Mysql,
        bytewise_text: false,
    };

    fn items() -> Result<LogicalPlanBuilder> {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int32, false),
            Field::new("qty", DataType::Int32, true),
            Field::new("name", DataType::Utf8, true),
        ]);
        table_scan(Some("items"), &schema, None)
    }

    #[test]
    fn text_comparisons_stay_local_on_mysql_only() -> Result<()> {
        let plan = items()?.filter(col("name").eq(lit("a")))?.build()?;
        assert!(POSTGRES.allows(&plan));
        assert!(!MYSQL.allows(&plan));
        let plan = items()?.filter(col("qty").gt(lit(3)))?.build()?;
        assert!(MYSQL.allows(&plan));
        Ok(())
    }

    #[test]
    fn text_order_stays_local_unless_the_collation_is_bytewise() -> Result<()> {
        let sorted = items()?
            .sort(vec![col("name").sort(true, false)])?
            .build()?;
        assert!(POSTGRES.allows(&sorted));
        assert!(!POSTGRES_EN_US.allows(&sorted));
        let range = items()?.filter(col("name").gt(lit("m")))?.build()?;
        assert!(!POSTGRES_EN_US.allows(&range));
        let equal = items()?.filter(col("name").eq(lit("m")))?.build()?;
        assert!(POSTGRES_EN_US.allows(&equal));
        Ok(())
    }

    #[test]
    fn integer_division_and_concatenation_stay_local_on_mysql() -> Result<()> {
        let divide = items()?.project(vec![col("qty") / lit(2)])?.build()?;
        assert!(POSTGRES.allows(&divide));
        assert!(!MYSQL.allows(&divide));
        let concat = Expr::BinaryExpr(BinaryExpr::new(
            Box::new(col("name")),
            Operator::StringConcat,
            Box::new(lit("!")),
        ));
        let concat = items()?.project(vec![concat])?.build()?;
        assert!(POSTGRES.allows(&concat));
        assert!(!MYSQL.allows(&concat));
        Ok(())
    }

    #[test]
    fn mysql_sorts_only_where_its_null_order_is_asked_for() -> Result<()> {
        let nulls_last = items()?.sort(vec![col("qty").sort(true, false)])?.build()?;
        assert!(POSTGRES.allows(&nulls_last));
        assert!(!MYSQL.allows(&nulls_last));
        let nulls_first = items()?.sort(vec![col("qty").sort(true, true)])?.build()?;
        assert!(MYSQL.allows(&nulls_first));
        // A column without NULLs sorts the same either way.
        let by_id = items()?.sort(vec![col("id").sort(true, false)])?.build()?;
        assert!(MYSQL.allows(&by_id));
        Ok(())
    }

    #[test]
    fn backslashes_and_double_quotes_in_literals_stay_local_on_mysql() -> Result<()> {
        let plan = items()?
            .filter(col("qty").is_null().or(lit("a\\b").is_null()))?
            .build()?;
        assert!(POSTGRES.allows(&plan));
        assert!(!MYSQL.allows(&plan));
        let quoted = items()?.project(vec![lit("big \"one\"")])?.build()?;
        assert!(POSTGRES.allows(&quoted));
        assert!(!MYSQL.allows(&quoted));
        Ok(())
    }

    #[test]
    fn literals_the_unparser_would_misquote_stay_local() -> Result<()> {
        for text in ["x\\' OR 1=1 -- ", "a''b"] {
            let plan = items()?.filter(col("name").eq(lit(text)))?.build()?;
            assert!(!POSTGRES.allows(&plan), "{text}");
            assert!(!MYSQL.allows(&plan), "{text}");
        }
        let plan = items()?.filter(col("name").eq(lit("it's")))?.build()?;
        assert!(POSTGRES.allows(&plan));
        Ok(())
    }

    #[test]
    fn mysql_date_predicates_that_zero_dates_would_satisfy_stay_local() -> Result<()> {
        let schema = Schema::new(vec![Field::new("created", DataType::Date32, true)]);
        let scan = || table_scan(Some("items"), &schema, None);
        let created = || col("created");
        let day = || lit(datafusion::common::ScalarValue::Date32(Some(19_800)));
        for (plan, pushed) in [
            (scan()?.filter(created().gt_eq(day()))?.build()?, true),
            (scan()?.filter(day().lt(created()))?.build()?, true),
            (scan()?.filter(created().lt(day()))?.build()?, false),
            (scan()?.filter(created().is_null())?.build()?, false),
            (scan()?.filter(created().not_eq(day()))?.build()?, false),
        ] {
            assert_eq!(MYSQL.allows(&plan), pushed, "{plan}");
            assert!(POSTGRES.allows(&plan), "{plan}");
        }
        Ok(())
    }

    #[test]
    fn casts_that_format_text_stay_local() {
        assert!(allows_cast(&DataType::Int32, &DataType::Int64));
        assert!(allows_cast(
            &DataType::Decimal128(20, 6),
            &DataType::Float64
        ));
        assert!(!allows_cast(&DataType::Float64, &DataType::Utf8));
        assert!(!allows_cast(&DataType::Utf8, &DataType::Int64));
    }
}
