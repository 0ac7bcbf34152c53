# The R oracle for multiple-imputation combining: the same survey GLM on each imputed data set,
# combined by mitools::MIcombine with the complete-data df of the design.
#
# Usage: Rscript mi_oracle.R spec.csv
# spec.csv (key, value): data (CSV with column .imp = 1..m), out, weight, domain, y, terms (";"),
#   family (gaussian | binomial)
suppressPackageStartupMessages({library(survey); library(mitools)})
options(survey.lonely.psu = "adjust")
spec <- read.csv(commandArgs(trailingOnly = TRUE)[1], colClasses = "character")
get1 <- function(key) spec$value[spec$key == key][1]
d <- read.csv(get1("data"))
terms <- strsplit(get1("terms"), ";", fixed = TRUE)[[1]]
fml <- as.formula(paste(get1("y"), "~", paste(terms, collapse = " + ")))
fam <- if (get1("family") == "binomial") quasibinomial() else gaussian()
fits <- lapply(sort(unique(d$.imp)), function(i) {
  di <- d[d$.imp == i, ]
  des <- svydesign(ids = ~sdmvpsu, strata = ~sdmvstra, weights = as.formula(paste0("~", get1("weight"))),
                   nest = TRUE, data = di)
  svyglm(fml, design = subset(des, di[[get1("domain")]] == 1), family = fam,
         control = glm.control(epsilon = 1e-12, maxit = 100))
})
combined <- MIcombine(fits, df.complete = fits[[1]]$df.residual)
out <- data.frame(term = names(coef(combined)), estimate = coef(combined), std_error = sqrt(diag(vcov(combined))),
                  df = combined$df, missing_information = combined$missinfo)
write.csv(out, get1("out"), row.names = FALSE)
