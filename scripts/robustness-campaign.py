#!/usr/bin/env python3
"""Runs the release binary on the malformed and extreme inputs of the robustness review (issue
"Runs that never hang...") and prints, per case, the exit code, the wall time, the run's
meta.json status and the error lines. Standard library only.

    cargo build --release -p hnn-bench
    python3 scripts/robustness-campaign.py            # every case
    python3 scripts/robustness-campaign.py lr10 k     # some

Each case edits one key of tests/smoke.toml; runs go to $TMPDIR/hnn-campaign/<case>/. The
case `diskfull` (run as root: it mounts a 512 KiB tmpfs there) runs the smoke config onto a disk
that fills up during the run: its meta.json must say "failed" with the error.
"""
import subprocess, sys, time, re, os, shutil, tempfile
ROOT=os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
B=os.path.join(ROOT,'target/release/hnn-bench')
base=open(os.path.join(ROOT,'tests/smoke.toml')).read()
WORK=os.path.join(tempfile.gettempdir(),'hnn-campaign')
def setkey(text, section, key, value):
    # replace or add key in [section]
    lines=text.split('\n'); out=[]; i=0; done=False; insec=False
    hdr='['+section+']'
    if hdr not in text:
        return text+'\n'+hdr+'\n'+key+' = '+value+'\n'
    for l in lines:
        if l.strip().startswith('['):
            if insec and not done:
                out.insert(len(out)-0, key+' = '+value); done=True
            insec = (l.strip()==hdr)
        if insec and re.match(r'\s*'+re.escape(key)+r'\s*=', l):
            l=key+' = '+value; done=True
        out.append(l)
    if insec and not done: out.append(key+' = '+value)
    return '\n'.join(out)
cases={
 'lr1e3': [('train','learning_rate','1e3')],
 'lr1e3nodiv': [('train','learning_rate','1e3'),('train','divergence_factor','1e30')],
 'lr1e30': [('train','learning_rate','1e30')],
 'lr10': [('train','learning_rate','10.0')],
 'lr1e300': [('train','learning_rate','1e300')],
 'wd1e300': [('train','weight_decay','1e300')],
 'hidden1e5': [('model','hidden','[100000, 100000]')],
 'points1e12': [('data','points','1000000000000')],
 'tspan3': [('data','t_span','[0.0, 1.0, 3.0]')],
 'ptspan3': [('eval.paper','t_span','[0.0, 1.0, 3.0]')],
 'box3': [('eval.corrected','box','[0.2, 1.0, 3.0]')],
 'ftspan3': [('eval.figure','t_span','[0.0, 1.0, 3.0]')],
 'stretch': [('eval.paper','time_stretch','1e300')],
 'tend': [('eval.corrected','t_span','[0.0, 1e300]')],
 'dtend': [('data','t_span','[0.0, 1e300]')],
 'k': [('system','k','1e300')],
 'dir': [('system','direction','"diagonal"')],
 'radius': [('system','radius','[0.1, 0.2, 0.3]')],
 'overflow': [('train','steps','99999999999999999999')],
 'longname': [('experiment','name','"'+'x'*300+'"')],
 'nulname': [('experiment','name','"a\\u0000b"')],
}
sel=sys.argv[1:] or ['seeds','diskfull']+list(cases)
def mount_small(d):
    r=subprocess.run(['mount','-t','tmpfs','-o','size=512k','tmpfs',d+'/out'],capture_output=True,text=True)
    if r.returncode!=0:
        print('== diskfull: skipped (cannot mount a tmpfs: %s)'%r.stderr.strip()); return False
    return True
for name in sel:
    extra=[]
    if name=='seeds':
        text=base; extra=['--seeds','9223372036854775808']
    elif name=='diskfull':
        text=base
    else:
        text=base
        for s,k,v in cases[name]: text=setkey(text,s,k,v)
    d=os.path.join(WORK,name)
    subprocess.run(['umount',d+'/out'],capture_output=True)
    shutil.rmtree(d,ignore_errors=True); os.makedirs(d+'/out')
    open(d+'/c.toml','w').write(text)
    if name=='diskfull' and not mount_small(d): continue
    t=time.time()
    try:
        p=subprocess.run([B,'--config',d+'/c.toml','--output-dir',d+'/out','--no-progress']+extra,capture_output=True,text=True,timeout=90)
        rc=p.returncode; err=p.stderr
    except subprocess.TimeoutExpired as e:
        rc='TIMEOUT'; err=(e.stderr or b'').decode() if isinstance(e.stderr,bytes) else (e.stderr or '')
    dt=time.time()-t
    tail=[l for l in err.strip().split('\n') if 'ERROR' in l or 'error' in l or 'WARN' in l or 'panick' in l][-3:]
    metas=subprocess.run("cat %s/out/*/*/meta.json 2>/dev/null | grep status"%d,shell=True,capture_output=True,text=True).stdout.strip()
    print(f"== {name}: rc={rc} {dt:.1f}s meta[{metas}]")
    for l in tail: print('   ', l[:400])
    if name=='diskfull': subprocess.run(['umount',d+'/out'],capture_output=True)
