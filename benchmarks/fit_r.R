# Times R survey's svyglm on the benchmark's data: warm, `reps` fits, median seconds per fit.
suppressPackageStartupMessages(library(survey))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
reps <- as.integer(args[2])
for (f in c("sex", "race_eth", "education", "smoking", "season", "cycle")) d[[f]] <- factor(d[[f]])
d$sex <- relevel(d$sex, "male"); d$race_eth <- relevel(d$race_eth, "nh_white")
d$education <- relevel(d$education, "hs_ged"); d$smoking <- relevel(d$smoking, "never")
d$season <- relevel(d$season, "may_oct")
fml <- vitd_serum_nmol ~ vitd_supp_user * mg_adequate + age + sex + race_eth + bmi + education + pir +
  smoking + season + cycle + kcal + ca_total_mg
fit <- function() {
  des <- svydesign(ids = ~sdmvpsu, strata = ~sdmvstra, weights = ~wt_day1, nest = TRUE, data = d)
  svyglm(fml, design = subset(des, in_main == 1))
}
invisible(fit())  # warm-up
times <- sapply(seq_len(reps), function(i) system.time(fit())[["elapsed"]])
cat(median(times), "\n")
