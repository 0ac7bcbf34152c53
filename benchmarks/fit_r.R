# Times R survey's svyglm on the benchmark's data: warm, `reps` fits, median seconds per fit.
# Usage: Rscript fit_r.R data.csv reps "formula" domain family
suppressPackageStartupMessages(library(survey))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
reps <- as.integer(args[2])
fml <- as.formula(args[3])
domain <- args[4]
fam <- switch(args[5], quasibinomial = quasibinomial(), quasipoisson = quasipoisson(), gaussian())
refs <- c(sex = "male", race_eth = "nh_white", education = "hs_ged", smoking = "never", season = "may_oct")
for (f in intersect(c(names(refs), "cycle"), names(d))) {
  d[[f]] <- factor(d[[f]])
  if (f %in% names(refs)) d[[f]] <- relevel(d[[f]], refs[[f]])
}
fit <- function() {
  des <- svydesign(ids = ~sdmvpsu, strata = ~sdmvstra, weights = ~wt_day1, nest = TRUE, data = d)
  svyglm(fml, design = subset(des, d[[domain]] == 1), family = fam)
}
invisible(fit())  # warm-up
times <- sapply(seq_len(reps), function(i) system.time(fit())[["elapsed"]])
cat(median(times), "\n")
