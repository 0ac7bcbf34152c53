# The R `survey` oracle for replicate-weight variance.
#
# Usage: Rscript replicate_oracle.R spec.csv
# spec.csv: two columns, key and value:
#   data     CSV with sdmvstra, sdmvpsu, the weight, the domain flag (0/1), the variables and,
#            for task "given" and type Fay, the replicate factors f1..fR
#   out      where to write the results (CSV: kind, term, estimate, std_error)
#   task     jkn  : as.svrepdesign(type = "JKn", mse = TRUE) from strata and PSUs; svymean of y
#                   and svyglm of y ~ terms in the domain
#            fay  : svrepdesign(type = "Fay", rho, repweights = weight x f1..fR, mse = TRUE); the same
#            twostep : a two-step estimate; covariates named in `varying` take a different value on
#                   every replicate (column <prefix>0 = full sample, <prefix>1..R = replicates); the
#                   model y ~ terms is refitted on each replicate with its weights and its covariates,
#                   and the variance is combined by survey's svrVar with JKn coefficients
#            twostep_mean : the domain mean (and total) of a column that takes a different value on every
#                   replicate (column <y>0 = full sample, <y>1..R = replicates), each replicate's with its
#                   own JKn weights, combined by svrVar (a usual-intake prediction's mean, as `estimate`)
#   weight, domain, y, terms (";"-separated), family (gaussian | binomial), rho
#   varying  "name=prefix;name=prefix" (twostep)
suppressPackageStartupMessages(library(survey))
options(survey.lonely.psu = "adjust")

args <- commandArgs(trailingOnly = TRUE)
spec <- read.csv(args[1], colClasses = "character")
get1 <- function(key, default = NA) {
  v <- spec$value[spec$key == key]
  if (length(v) == 0) default else v[1]
}
d <- read.csv(get1("data"))
weight <- get1("weight")
domain <- d[[get1("domain")]] == 1
y <- get1("y")
terms <- strsplit(get1("terms", "1"), ";", fixed = TRUE)[[1]]
fam <- if (get1("family", "gaussian") == "binomial") quasibinomial() else gaussian()
fml <- as.formula(paste(y, "~", paste(terms, collapse = " + ")))
control <- glm.control(epsilon = 1e-12, maxit = 100)
rows <- list()
add <- function(kind, term, est, se) {
  rows[[length(rows) + 1]] <<- data.frame(kind = kind, term = term, estimate = est, std_error = se)
}
task <- get1("task")
if (task %in% c("jkn", "fay")) {
  if (task == "jkn") {
    des <- svydesign(ids = ~sdmvpsu, strata = ~sdmvstra, weights = as.formula(paste0("~", weight)), nest = TRUE, data = d)
    rep <- as.svrepdesign(des, type = "JKn", mse = TRUE)
  } else {
    f <- as.matrix(d[, grep("^f[0-9]+$", names(d))])
    rep <- svrepdesign(data = d, weights = as.formula(paste0("~", weight)), repweights = f * d[[weight]],
                       type = "Fay", rho = as.numeric(get1("rho")), combined.weights = TRUE, mse = TRUE)
  }
  sub <- subset(rep, domain)
  m <- svymean(as.formula(paste0("~", y)), sub)
  add("mean", y, coef(m)[1], SE(m)[1])
  g <- svyglm(fml, design = sub, family = fam, control = control)
  for (i in seq_along(coef(g))) add("coef", names(coef(g))[i], coef(g)[i], SE(g)[i])
} else if (task == "twostep") {
  des <- svydesign(ids = ~sdmvpsu, strata = ~sdmvstra, weights = as.formula(paste0("~", weight)), nest = TRUE, data = d)
  rep <- as.svrepdesign(des, type = "JKn", mse = TRUE)
  repw <- weights(rep, "analysis")
  n_reps <- ncol(repw)
  varying <- strsplit(strsplit(get1("varying"), ";", fixed = TRUE)[[1]], "=", fixed = TRUE)
  fit_with <- function(w, r) {
    data <- d[domain, ]
    for (v in varying) data[[v[1]]] <- d[[paste0(v[2], r)]][domain]
    data$.w <- w[domain]
    coef(suppressWarnings(glm(fml, data = data, weights = .w, family = fam, control = control)))
  }
  full <- fit_with(d[[weight]], 0)
  thetas <- t(sapply(seq_len(n_reps), function(r) fit_with(repw[, r], r)))
  v <- survey:::svrVar(thetas, rep$scale, rep$rscales, mse = TRUE, coef = full)
  for (i in seq_along(full)) add("coef", names(full)[i], full[i], sqrt(diag(as.matrix(v)))[i])
} else if (task == "twostep_mean") {
  des <- svydesign(ids = ~sdmvpsu, strata = ~sdmvstra, weights = as.formula(paste0("~", weight)), nest = TRUE, data = d)
  rep <- as.svrepdesign(des, type = "JKn", mse = TRUE)
  repw <- weights(rep, "analysis")
  both <- function(w, r) {
    v <- d[[paste0(y, r)]][domain]
    c(mean = sum(w[domain] * v) / sum(w[domain]), total = sum(w[domain] * v))
  }
  full <- both(d[[weight]], 0)
  thetas <- t(sapply(seq_len(ncol(repw)), function(r) both(repw[, r], r)))
  v <- survey:::svrVar(thetas, rep$scale, rep$rscales, mse = TRUE, coef = full)
  add("mean", y, full[1], sqrt(diag(as.matrix(v)))[1])
  add("total", y, full[2], sqrt(diag(as.matrix(v)))[2])
}
write.csv(do.call(rbind, rows), get1("out"), row.names = FALSE)
