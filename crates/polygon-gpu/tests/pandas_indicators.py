"""design.md's indicators computed with pandas, for polygon-gpu's tests: in.csv (t,h,l,c,v,vw) -> out.csv."""
import sys

import numpy as np
import pandas as pd

df = pd.read_csv(sys.argv[1])
c = df["c"]
out = pd.DataFrame()
out["log_return"] = np.log(c / c.shift(1))
out["sma_20"] = c.rolling(20).mean()
out["ema_20"] = c.ewm(span=20, adjust=False).mean()
out["std_20"] = out["log_return"].rolling(20).std(ddof=1)
pop = c.rolling(20).std(ddof=0)
out["bb_upper_20"] = out["sma_20"] + 2 * pop
out["bb_lower_20"] = out["sma_20"] - 2 * pop
d = c.diff()
gain, loss = d.clip(lower=0).to_numpy(), (-d).clip(lower=0).to_numpy()
rsi = np.full(len(c), np.nan)
if len(c) > 14:
    ag, al = gain[1:15].mean(), loss[1:15].mean()
    r = lambda g, l: 100.0 if l == 0 else 100.0 - 100.0 / (1.0 + g / l)
    rsi[14] = r(ag, al)
    for i in range(15, len(c)):
        ag, al = (13 * ag + gain[i]) / 14, (13 * al + loss[i]) / 14
        rsi[i] = r(ag, al)
out["rsi_14"] = rsi
day = pd.to_datetime(df["t"], unit="ms", utc=True).dt.tz_convert("America/New_York").dt.date
price = df["vw"].fillna((df["h"] + df["l"] + df["c"]) / 3)
out["vwap"] = (price * df["v"]).groupby(day).cumsum() / df["v"].groupby(day).cumsum()
out.to_csv(sys.argv[2], index=False, float_format="%.17g")
