# The R `survey` oracle: recomputes a design-based estimate that the Python layer produced.
#
# Usage: Rscript survey_oracle.R spec.csv
#        Rscript survey_oracle.R --worker   (reads one spec path per line from stdin, answers "ok" or
#                                            "error: ..." per line: the tests keep one R running)
# spec.csv has two columns, key and value (keys may repeat for wald / lincom):
#   data     CSV with sdmvstra, sdmvpsu, the weight, the domain flag (0/1) and the variables
#   out      where to write the results (CSV)
#   task     mean | prop | glm | quantile | total | cox | standardize
#   std_by   standardize: the stratum column (age group); population "level=size" (repeatable);
#            by: optional groups; y: the variable (prop = 1: a 0/1 share with a logit CI)
#   time     cox: end of follow-up; entry  cox: its start (optional; counting-process data); y: the event (0/1)
#   weight   weight column;  domain  0/1 column (optional: whole population)
#   y        outcome;  by  grouping column (mean/prop, optional)
#   family   gaussian | binomial | poisson (glm; quasibinomial / quasipoisson in R)
#   ci       logit | beta (prop: svyciprop method; beta is Korn-Graubard)
#   probs    quantile probabilities separated by ";" (quantile; qrule "math", Woodruff CIs)
#   terms    model terms separated by ";" (a product is "a:b")
#   factor   "column=reference level" (repeatable): categorical columns
#   wald     "label|term label[;term label...]" (repeatable): regTermTest, method "Wald"
#   lincom   "label|coef=weight[;coef=weight...]" (repeatable): svycontrast
#   nlcon    "label|R expression in coefficient names" (repeatable): svycontrast, delta method
# Coefficient names follow the Python layer: "(Intercept)" -> "_intercept_", factor level
# "race_ethnh_black" -> "race_eth_nh_black".
suppressPackageStartupMessages(library(survey))
options(survey.lonely.psu = "adjust")

run_spec <- function(spec_path) {
  spec <- read.csv(spec_path, colClasses = "character", na.strings = character(0))
  get1 <- function(key, default = NA) {
    v <- spec$value[spec$key == key]
    if (length(v) == 0) default else v[1]
  }
  getall <- function(key) spec$value[spec$key == key]

  d <- read.csv(get1("data"), stringsAsFactors = FALSE)
  weight <- get1("weight")
  factors <- getall("factor")
  for (f in factors) {
    kv <- strsplit(f, "=", fixed = TRUE)[[1]]
    d[[kv[1]]] <- relevel(factor(d[[kv[1]]]), ref = kv[2])
  }
  des <- svydesign(ids = ~sdmvpsu, strata = ~sdmvstra, weights = as.formula(paste0("~", weight)),
                   nest = TRUE, data = d)
  domain <- get1("domain")
  in_domain <- if (is.na(domain)) rep(TRUE, nrow(d)) else d[[domain]] == 1
  full <- des
  des <- subset(full, in_domain)

  rows <- list()
  add <- function(kind, term, est, se, lo, hi, stat, df, p) {
    rows[[length(rows) + 1]] <<- data.frame(kind = kind, term = term, estimate = est, std_error = se,
                                            ci_low = lo, ci_high = hi, statistic = stat, df = df,
                                            p_value = p, stringsAsFactors = FALSE)
  }

  # "label|spec": the spec follows the last "|" (labels may contain "|")
  split_last <- function(x) {
    parts <- strsplit(x, "|", fixed = TRUE)[[1]]
    c(paste(parts[-length(parts)], collapse = "|"), parts[length(parts)])
  }

  rename_coef <- function(names, model) {
    fac <- names(model$xlevels)
    sapply(names, function(n) {
      if (n == "(Intercept)") return("_intercept_")
      parts <- strsplit(n, ":", fixed = TRUE)[[1]]
      parts <- sapply(parts, function(p) {
        for (f in fac) {
          if (startsWith(p, f) && substring(p, nchar(f) + 1) %in% model$xlevels[[f]]) {
            return(paste0(f, "_", substring(p, nchar(f) + 1)))
          }
        }
        p
      })
      paste(parts, collapse = ":")
    }, USE.NAMES = FALSE)
  }

  task <- get1("task")
  if (task == "distribution") {
    y <- get1("y")
    m <- svymean(as.formula(paste0("~factor(", y, ")")), des)
    levels <- sub(paste0("factor(", y, ")"), "", names(coef(m)), fixed = TRUE)
    for (i in seq_along(levels)) {
      logit_ci <- confint(svyciprop(as.formula(paste0("~I(", y, " == '", levels[i], "')")), des, method = "logit"))
      add("distribution", paste0(y, "=", levels[i]), coef(m)[i], SE(m)[i], logit_ci[1], logit_ci[2], NA, degf(des), NA)
    }
  }
  y <- get1("y")
  by <- get1("by")
  if (task == "quantile") {
    probs <- as.numeric(strsplit(get1("probs"), ";", fixed = TRUE)[[1]])
    q <- svyquantile(as.formula(paste0("~", y)), des, probs, qrule = "math", ci = TRUE)
    m <- q[[y]]
    for (i in seq_along(probs)) {
      add("quantile", paste0(y, "[p=", probs[i], "]"), m[i, 1], SE(q)[i], m[i, 2], m[i, 3], NA, degf(des), NA)
    }
  }
  if (task == "total") {
    t <- svytotal(as.formula(paste0("~", y)), des)
    ci <- confint(t, df = degf(des))
    add("total", y, coef(t)[1], SE(t)[1], ci[1, 1], ci[1, 2], NA, degf(des), NA)
  }
  if (task %in% c("mean", "prop")) {
    yf <- if (task == "mean") as.formula(paste0("~", y)) else as.formula(paste0("~I(", y, " == 1)"))
    one <- function(design, label) {
      if (task == "mean") {
        m <- svymean(yf, design)
        est <- coef(m)[1]; se <- SE(m)[1]
        ci <- confint(m, df = degf(design))
        add("mean", label, est, se, ci[1, 1], ci[1, 2], est / se, degf(design), NA)
      } else {
        m <- svyciprop(yf, design, method = get1("ci", "logit"))
        est <- coef(m)[1]; se <- SE(m)[1]
        ci <- confint(m)
        add("prop", label, est, se, ci[1], ci[2], NA, degf(design), NA)
      }
    }
    if (is.na(by)) {
      one(des, y)
    } else {
      for (level in sort(unique(d[[by]][in_domain & d[[weight]] > 0]))) {
        one(subset(full, in_domain & d[[by]] == level), paste0(y, "[", by, "=", level, "]"))
      }
    }
  } else if (task == "standardize") {
    kv <- strsplit(getall("population"), "=", fixed = TRUE)
    levels <- sapply(kv, `[`, 1); pop <- as.numeric(sapply(kv, `[`, 2))
    des <- update(des, .std = factor(get(get1("std_by")), levels = levels))
    by <- get1("by")
    share <- get1("prop", "0") == "1"
    dstd <- svystandardize(des, by = ~.std, over = if (is.na(by)) ~1 else as.formula(paste0("~", by)), population = pop)
    one <- function(design, label) {
      df <- degf(design)
      if (share) {
        ci <- svyciprop(as.formula(paste0("~I(", y, " == 1)")), design, method = "logit", df = df)
        est <- as.numeric(ci); se <- as.numeric(SE(ci)); lim <- as.numeric(attr(ci, "ci"))
        add("std", label, est, se, lim[1], lim[2], NA, df, NA)
      } else {
        m <- svymean(as.formula(paste0("~", y)), design)
        est <- as.numeric(coef(m)); se <- as.numeric(SE(m)); tq <- qt(0.975, df)
        add("std", label, est, se, est - tq * se, est + tq * se, est / se, df, 2 * pt(-abs(est / se), df))
      }
    }
    if (is.na(by)) {
      one(dstd, "all")
    } else {
      for (level in sort(unique(d[[by]][in_domain & d[[weight]] > 0]))) {
        one(subset(dstd, get(by) == level), paste0(by, "=", level))
      }
    }
  } else if (task == "cox") {
    # svycoxph, Breslow ties (coxph's default is Efron: asked for explicitly), tight convergence
    suppressPackageStartupMessages(library(survival))
    terms <- strsplit(get1("terms"), ";", fixed = TRUE)[[1]]
    entry <- get1("entry")
    surv <- if (is.na(entry)) paste0("Surv(", get1("time"), ", ", y, ")") else
      paste0("Surv(", entry, ", ", get1("time"), ", ", y, ")")
    fml <- as.formula(paste(surv, "~", paste(terms, collapse = " + ")))
    # (survey 4.1 mishandles `ties =` in svycoxph; `method =` is coxph's alias for it)
    m <- svycoxph(fml, design = des, method = "breslow",
                  control = coxph.control(eps = 1e-13, toler.chol = 1e-15, iter.max = 100))
    est <- coef(m); se <- sqrt(diag(vcov(m))); df <- m$degf.resid
    tq <- qt(0.975, df)
    nm <- rename_coef(names(est), m)
    for (i in seq_along(est)) {
      add("coef", nm[i], est[i], se[i], est[i] - tq * se[i], est[i] + tq * se[i], est[i] / se[i], df,
          2 * pt(-abs(est[i] / se[i]), df))
    }
  } else if (task == "glm") {
    terms <- strsplit(get1("terms"), ";", fixed = TRUE)[[1]]
    fml <- as.formula(paste(y, "~", paste(terms, collapse = " + ")))
    fam <- switch(get1("family", "gaussian"), binomial = quasibinomial(), poisson = quasipoisson(), gaussian())
    # tight convergence, so that both IRLS implementations stop at the same point
    m <- svyglm(fml, design = des, family = fam, control = glm.control(epsilon = 1e-12, maxit = 100))
    s <- summary(m)$coefficients
    ci <- confint(m, df = m$df.residual)
    nm <- rename_coef(rownames(s), m)
    for (i in seq_len(nrow(s))) {
      add("coef", nm[i], s[i, 1], s[i, 2], ci[i, 1], ci[i, 2], s[i, 3], m$df.residual, s[i, 4])
    }
    for (w in getall("wald")) {
      parts <- split_last(w)
      tt <- regTermTest(m, as.formula(paste("~", gsub(";", " + ", parts[2], fixed = TRUE))), method = "Wald")
      add("wald", parts[1], tt$df, NA, NA, NA, as.numeric(tt$Ftest), tt$ddf, as.numeric(tt$p))
    }
    for (e in getall("nlcon")) {
      # a nonlinear function of the coefficients, by R's delta method (symbolic derivatives)
      parts <- split_last(e)
      ct <- svycontrast(m, setNames(list(parse(text = parts[2])[[1]]), parts[1]))
      est <- as.numeric(coef(ct)); se <- as.numeric(SE(ct))
      tq <- qt(0.975, m$df.residual)
      add("nlcon", parts[1], est, se, est - tq * se, est + tq * se, est / se, m$df.residual,
          2 * pt(-abs(est / se), m$df.residual))
    }
    for (l in getall("lincom")) {
      parts <- split_last(l)
      pairs <- strsplit(strsplit(parts[2], ";", fixed = TRUE)[[1]], "=", fixed = TRUE)
      original <- names(coef(m))
      renamed <- rename_coef(original, m)
      w <- setNames(rep(0, length(original)), original)
      canon <- function(x) sapply(strsplit(x, ":", fixed = TRUE), function(v) paste(sort(v), collapse = ":"))
      for (p in pairs) {
        hit <- match(canon(p[1]), canon(renamed))
        if (is.na(hit)) stop(paste("lincom: no coefficient", p[1]))
        w[original[hit]] <- as.numeric(p[2])
      }
      ct <- svycontrast(m, w)
      est <- as.numeric(coef(ct)); se <- as.numeric(SE(ct))
      tq <- qt(0.975, m$df.residual)
      add("lincom", parts[1], est, se, est - tq * se, est + tq * se, est / se, m$df.residual,
          2 * pt(-abs(est / se), m$df.residual))
    }
  }
  write.csv(do.call(rbind, rows), get1("out"), row.names = FALSE)
}

args <- commandArgs(trailingOnly = TRUE)
if (length(args) == 1 && args[1] == "--worker") {
  input <- file("stdin")
  open(input)
  while (length(line <- readLines(input, n = 1)) > 0) {
    answer <- tryCatch({ run_spec(line); "ok" }, error = function(e) paste("error:", gsub("\n", " ", conditionMessage(e))))
    cat(answer, "\n", sep = "")
    flush(stdout())
  }
} else {
  run_spec(args[1])
}
