"""The definitions `pavedroad dora` computes by, as its `--help` prints them.

Their own module, without imports, because the command line builds every subcommand's parser on
each run: the help text must not bring the figures' code (and its imports) with it.
"""

HELP = """\
definitions (DORA's four keys, as this command computes them):
  deployment       an `update` entry (not preview, refresh or destroy) of a production stack
                   (the stack named prod, or one whose stack file sets
                   paved-road:production: true) whose end time falls in [since, until);
                   deployments per day = deployments / days in [since, until)
  its commits      those reachable from its environment["git.head"] and not from the
                   git.head of the previous successful update of the stack, looked up in the
                   whole history (an update before the period still serves as the base)
  lead time        of a commit: end time of the first successful deployment that contains it
                   minus the commit's author time; median (the mean of the two middle values
                   for an even count) and p90 (nearest rank: the ceil(0.9 n)-th smallest), in
                   hours
  failed           a deployment whose result is `failed`, or one of whose commits a later
                   deployed commit reverts (git's "This reverts commit <sha>." line);
                   change failure rate = failed deployments / deployments
  time to restore  of a failed deployment: from its end to the end of the next successful
                   deployment that has not failed itself; median, in hours

per tenant: a deployment counts for each tenant whose files (tenants/<team>.yaml, or anything
under tenants/<team>/) its commits changed; a tenant's lead times are those of the commits that
changed its files; failures and restores are the deployment's.

levels: DORA's 2024 performance levels (elite, high, medium, low; "no data" without a
figure). A month is 30 days. Deployment frequency: elite above 1 a day, high from 1 a week
to 1 a day, medium from 1 a month, low below. Lead time (median): elite under 1 day, high
up to 1 week, medium up to 1 month, low above. Change failure rate: elite up to 5%, high up
to 20%, low above (the 2024 table gives medium 10%, better than high's 20%, so no rate alone
is medium). Time to restore (median): elite under 1 hour, high under 1 day, medium under 1
week, low from 1 week.

input: each --history is `pulumi stack history --json --page-size N` of that stack (the CLI
shows only the last 10 updates unless asked for more: take enough to reach the update before
the period). --repo is a full clone (not shallow) holding every deployed commit; the stack
files are read from its stacks/ and the tenant list from its tenants/.
The period defaults to the 30 days before today (UTC): --until defaults to today, so the last
day counted is yesterday, and --since to 30 days before --until.
exit codes: 0 report written, 2 bad input (arguments, history, stack, repository)."""
